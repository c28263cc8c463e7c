// Replaces docker-modem's `require('./ssh')` in the bundles. docker-modem loads its ssh agent, and ssh2 (270 KB)
// with it, as it loads; only an engine at DOCKER_HOST=ssh:// uses it. This loads the real one on its first call.
module.exports = function sshAgent(options) {
  return require('docker-modem/lib/ssh.js')(options);
};
