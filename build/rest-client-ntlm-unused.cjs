// Replaces typed-rest-client's NTLM handler in the bundles. Test results go to Azure DevOps with the job's bearer
// token (shared/src/testresults/api.ts); NTLM, with the DES, MD4 and underscore code behind it, is never used.
class NtlmCredentialHandler {
  constructor() {
    throw new Error(
      "typed-rest-client's NTLM handler is not bundled: the tasks sign in with a bearer token (build/bundle.mjs, REPLACED_MODULES)",
    );
  }
}
module.exports = { NtlmCredentialHandler };
