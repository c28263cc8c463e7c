// First, before task-lib loads: it takes the proxy password and client-key passphrase out of task-lib's sight.
import { agentSecret } from './network-secrets';
import { createPrivateKey } from 'node:crypto';
import * as fs from 'node:fs';
import type * as tl from 'azure-pipelines-task-lib/task';
import { agent, taskLib } from './agent';
import type { Log } from '../log';
import type { NetworkOptions, NetworkSettingNames, ProxyServer, TlsSettings } from '../net/network';
import { registerSecret } from './secrets';

/*
 * The one place that turns the agent's proxy and certificate settings into the core's NetworkOptions: the agent's
 * proxy (Agent.ProxyUrl, Agent.ProxyUsername, secret Agent.ProxyPassword, Agent.ProxyBypassList) or, when the agent
 * has none, HTTPS_PROXY / HTTP_PROXY / NO_PROXY as curl and docker read them; the agent's certificates (Agent.CAInfo,
 * Agent.ClientCert, Agent.ClientCertKey, secret Agent.ClientCertPassword) and Agent.SkipCertValidation. Files are
 * checked here so that a bad setting fails the task in one line naming it. (Agent.ClientCertArchive, the same
 * certificate as PKCS#12 for git and .NET, is not needed: Node takes the PEM pair.)
 */

const AGENT_NAMES = {
  ca: 'Agent.CAInfo',
  skipCertValidation: 'Agent.SkipCertValidation',
  clientCertificate: 'Agent.ClientCert and Agent.ClientCertKey',
};

function problem(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split(/\r?\n/)[0];
}

/** A proxy URL as curl reads it (`host:port` means http://), credentials split off and masked. */
function proxyServer(
  value: string,
  setting: string,
  credentialsSetting: string,
  user?: { username?: string; password?: string },
): ProxyServer {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch (error) {
    throw new Error(`${setting} is not a URL: set it to the proxy's http://host:port`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`${setting} is a ${url.protocol.replace(/:$/, '')}:// proxy: only http:// and https:// proxies are supported`);
  }
  const username = user?.username || (url.username ? decodeURIComponent(url.username) : undefined);
  const password = user?.password || (url.password ? decodeURIComponent(url.password) : undefined);
  if (password) {
    registerSecret(password);
    registerSecret(`${username ?? ''}:${password}`); // masked in its base64 form too: the Proxy-Authorization header
  }
  return { url: url.origin, username, password, setting, credentialsSetting };
}

function agentProxy(): Pick<NetworkOptions, 'httpsProxy' | 'httpProxy' | 'bypass'> | undefined {
  let config: ReturnType<typeof tl.getHttpProxyConfiguration>;
  try {
    config = taskLib().getHttpProxyConfiguration();
  } catch (error) {
    throw new Error(
      `the agent's proxy settings cannot be read (${problem(error)}): Agent.ProxyUrl must be an http:// URL and Agent.ProxyBypassList a JSON list of regular expressions`,
      { cause: error },
    );
  }
  if (!config) return undefined;
  const proxy = proxyServer(config.proxyUrl, 'Agent.ProxyUrl', 'Agent.ProxyUsername and Agent.ProxyPassword', {
    username: config.proxyUsername,
    password: agentSecret('Agent.ProxyPassword'),
  });
  const bypass = (Array.isArray(config.proxyBypassHosts) ? config.proxyBypassHosts : []).map((entry: unknown) => {
    try {
      return new RegExp(String(entry), 'i');
    } catch (error) {
      throw new Error(
        `Agent.ProxyBypassList holds '${String(entry)}', which is not a regular expression (${problem(error)}): fix the agent's .proxybypass file`,
        { cause: error },
      );
    }
  });
  return { httpsProxy: proxy, httpProxy: proxy, bypass };
}

function environmentValue(...names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = process.env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

function environmentProxy(): Pick<NetworkOptions, 'httpsProxy' | 'httpProxy' | 'noProxy'> {
  const https = environmentValue('HTTPS_PROXY', 'https_proxy');
  const http = environmentValue('HTTP_PROXY', 'http_proxy');
  const noProxy = environmentValue('NO_PROXY', 'no_proxy');
  const server = (found: { name: string; value: string }) =>
    proxyServer(found.value, found.name, `the user name and password in ${found.name}`);
  return { httpsProxy: https && server(https), httpProxy: http && server(http), noProxy: noProxy?.value };
}

function readableFile(setting: string, file: string, what: string, marker: RegExp): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(
      `${setting} names '${file}', which cannot be read (${(error as { code?: string }).code ?? problem(error)}): point it at ${what}`,
      { cause: error },
    );
  }
  if (!marker.test(text)) throw new Error(`${setting} names '${file}', which is not ${what}`);
  return text;
}

function agentCertificates(log: Log): TlsSettings | undefined {
  const config = taskLib().getHttpCertConfiguration();
  const skip = (agent.getVariable('Agent.SkipCertValidation') ?? '').trim().toLowerCase() === 'true';
  if (!config && !skip) return undefined;
  const settings: TlsSettings = { rejectUnauthorized: !skip };
  if (config?.caFile) {
    readableFile('Agent.CAInfo', config.caFile, 'a PEM file of CA certificates', /-----BEGIN CERTIFICATE-----/);
    settings.caFile = config.caFile;
  }
  if (config?.certFile) {
    readableFile('Agent.ClientCert', config.certFile, 'a PEM client certificate', /-----BEGIN CERTIFICATE-----/);
    if (!config.keyFile)
      throw new Error('Agent.ClientCert is set but Agent.ClientCertKey is not: set it to the PEM file of the certificate key');
    const key = readableFile('Agent.ClientCertKey', config.keyFile, 'a PEM private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    const passphrase = agentSecret('Agent.ClientCertPassword');
    try {
      createPrivateKey({ key, passphrase });
    } catch (error) {
      throw new Error(`the key in Agent.ClientCertKey cannot be read (${problem(error)}): check Agent.ClientCertPassword`, {
        cause: error,
      });
    }
    Object.assign(settings, { certFile: config.certFile, keyFile: config.keyFile, passphrase });
  }
  if (skip) log.warn('Agent.SkipCertValidation is true: the certificates of registries, token services and Azure DevOps are not verified');
  return settings;
}

/**
 * The agent's proxy and certificates as the core's NetworkOptions. Call once per task; a setting that cannot be used
 * throws an Error whose message names it.
 */
export function readAgentNetwork(log: Log): NetworkOptions {
  const proxy = agentProxy();
  const settings: Partial<NetworkSettingNames> = {
    ...AGENT_NAMES,
    proxy: 'Agent.ProxyUrl or HTTPS_PROXY',
    bypass: proxy ? 'Agent.ProxyBypassList' : 'NO_PROXY',
  };
  return { ...(proxy ?? environmentProxy()), tls: agentCertificates(log), settings };
}
