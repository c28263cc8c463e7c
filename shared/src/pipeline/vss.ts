import { taskLib } from './agent';
import { registerSecret } from './secrets';

/**
 * The job's OAuth access token (the `SystemVssConnection` endpoint the agent gives every task), registered as a
 * secret; `undefined` when the agent did not provide one. Read through `getEndpointAuthorization` because
 * `getEndpointAuthorizationParameter` prints the value in a debug line, and a malformed value is reported without
 * it (task-lib's own message would quote it).
 */
export function readAccessToken(): string | undefined {
  let auth: { parameters?: Record<string, string> } | undefined;
  try {
    auth = taskLib().getEndpointAuthorization('SystemVssConnection', true);
  } catch {
    throw new Error("the SystemVssConnection endpoint's authorization is not valid JSON");
  }
  const token = auth?.parameters?.AccessToken ?? auth?.parameters?.accessToken;
  registerSecret(token);
  return token || undefined;
}
