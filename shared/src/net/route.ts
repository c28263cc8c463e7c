import { BlockList, isIP } from 'node:net';
import { isLoopbackHost } from '../reference/reference';
import type { NetworkOptions, ProxyServer } from './network';

/*
 * Which proxy, if any, carries a request. Loopback hosts and the instance metadata address are always reached
 * directly (the agent's own proxy handling skips loopback too, and what IMDS hands out must not cross a proxy); then
 * the agent's bypass list and NO_PROXY send the rest of their hosts direct. Pure: no I/O.
 */

/** The instance metadata service (Azure IMDS; AWS and GCP use it too): never through a proxy. */
export const INSTANCE_METADATA_HOST = '169.254.169.254';

/** True for the hosts no proxy ever sees: loopback (`localhost`, 127.0.0.0/8, `[::1]`) and 169.254.169.254. */
export function isAlwaysDirect(url: URL): boolean {
  return isLoopbackHost(url.host) || url.hostname === INSTANCE_METADATA_HOST;
}

/**
 * The agent's bypass rule: each entry of Agent.ProxyBypassList is a regular expression tested, case-insensitively,
 * against `scheme://host[:port]` (the port only when not the default), as the agent itself tests it
 * (VstsAgentWebProxy.IsMatchInBypassList), so a pattern written for the agent (`\.corp$`) means the same here.
 */
export function matchesBypassList(url: URL, bypass: readonly RegExp[]): boolean {
  const origin = `${url.protocol}//${url.host}`;
  return bypass.some((pattern) => new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')).test(origin));
}

interface NoProxyEntry {
  host: string;
  port?: string;
  /** Prefix length of an IP range (`10.0.0.0/8`). */
  bits?: number;
}

function parseNoProxyEntry(text: string): NoProxyEntry {
  let entry = text.toLowerCase();
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) {
    entry = bracketed[1];
    port = bracketed[2];
  } else if (isIP(entry.split('/')[0]) !== 6) {
    const withPort = /^(.*):(\d+)$/.exec(entry);
    if (withPort) {
      entry = withPort[1];
      port = withPort[2];
    }
  }
  const slash = entry.indexOf('/');
  if (slash > 0 && isIP(entry.slice(0, slash))) return { host: entry.slice(0, slash), port, bits: Number(entry.slice(slash + 1)) };
  return { host: entry, port };
}

function ipMatches(address: string, entry: NoProxyEntry): boolean {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  if (isIP(entry.host) !== isIP(address)) return false;
  const list = new BlockList();
  try {
    if (entry.bits === undefined) list.addAddress(entry.host, family);
    else list.addSubnet(entry.host, entry.bits, family);
  } catch {
    return false; // a prefix length out of range matches nothing, as in curl
  }
  return list.check(address, family);
}

/**
 * NO_PROXY as curl reads it: entries separated by commas or blanks; `*` matches every host; a name matches itself
 * and every subdomain (`example.com` and `.example.com` both match `example.com` and `a.example.com`, never
 * `notexample.com`), trailing dots ignored; an IP address matches itself, `a.b.c.d/n` a range. Beyond curl, an entry
 * with a port (`host:5000`, `[::1]:5000`) matches that port only, as Go (docker) and undici read it.
 */
export function matchesNoProxy(url: URL, noProxy: string): boolean {
  let host = url.hostname.toLowerCase();
  if (host.startsWith('[')) host = host.slice(1, -1);
  host = host.replace(/\.$/, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
  for (const text of noProxy.split(/[\s,]+/)) {
    if (!text) continue;
    if (text === '*') return true;
    const entry = parseNoProxyEntry(text);
    if (entry.port !== undefined && entry.port !== port) continue;
    if (isIP(host)) {
      if (ipMatches(host, entry)) return true;
      continue;
    }
    const name = entry.host.replace(/^\./, '').replace(/\.$/, '');
    if (name && (host === name || host.endsWith(`.${name}`))) return true;
  }
  return false;
}

/** The proxy that carries a request to `url`, or undefined when it goes direct. */
export function proxyFor(url: URL, options: NetworkOptions | undefined): ProxyServer | undefined {
  const proxy = url.protocol === 'https:' ? options?.httpsProxy : url.protocol === 'http:' ? options?.httpProxy : undefined;
  if (!proxy || isAlwaysDirect(url)) return undefined;
  if (options?.bypass && matchesBypassList(url, options.bypass)) return undefined;
  if (options?.noProxy && matchesNoProxy(url, options.noProxy)) return undefined;
  return proxy;
}
