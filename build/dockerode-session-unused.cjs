// Replaces dockerode's lib/session.js in the bundles. Our BuildKit builds open their own session
// (shared/src/docker/session.ts: credentials per host, health service) and dial the engine directly, so dockerode's
// session, with @grpc/proto-loader and protobufjs behind it, is never called; leaving it out saves ~150 KB per task.
module.exports = function withSession() {
  throw new Error("dockerode's own BuildKit session is not bundled: open one with shared/src/docker/session.ts");
};
