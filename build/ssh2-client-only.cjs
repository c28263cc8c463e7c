// Replaces docker-modem's `require('ssh2')`: it uses only ssh2's Client (to run `docker system dial-stdio` on the
// engine's host), so the bundles take the client alone, without ssh2's server, key generator and HTTP agents.
module.exports = { Client: require('ssh2/lib/client.js') };
