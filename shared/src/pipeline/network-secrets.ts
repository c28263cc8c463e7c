import { registerSecret } from './secrets';

// The agent hands a task its proxy password and client-key passphrase as secret variables (SECRET_AGENT_PROXYPASSWORD,
// SECRET_AGENT_CLIENTCERTPASSWORD). As it loads, task-lib 5.281 reads the proxy password with getVariable
// (_exposeProxySettings), and getVariable prints every value it reads in a `##vso[task.debug]` line on the task's raw
// stdout: the agent masks it in its log, but the value is on the wire, and the client-key passphrase goes the same way
// whenever it is read. So this module takes both out of the environment before task-lib loads (task-lib then holds
// and prints nothing) and keeps them for network.ts. It must be evaluated before azure-pipelines-task-lib: run.ts
// imports network.ts, which imports this, ahead of task-lib; test/task/proxy.test.ts scans every task's raw output.

const AGENT_SECRETS = { 'Agent.ProxyPassword': 'AGENT_PROXYPASSWORD', 'Agent.ClientCertPassword': 'AGENT_CLIENTCERTPASSWORD' } as const;

const held = new Map<keyof typeof AGENT_SECRETS, string>();
for (const [name, key] of Object.entries(AGENT_SECRETS) as [keyof typeof AGENT_SECRETS, string][]) {
  // The agent passes them as secrets; a plain variable of the same name would be printed just the same.
  for (const variable of [`SECRET_${key}`, key]) {
    const value = process.env[variable];
    if (value === undefined) continue;
    if (!held.has(name) && value) held.set(name, value);
    delete process.env[variable];
  }
  registerSecret(held.get(name));
}

/** The agent's proxy password or client-key passphrase, kept from task-lib (see above); masked in all output. */
export function agentSecret(name: keyof typeof AGENT_SECRETS): string | undefined {
  return held.get(name);
}
