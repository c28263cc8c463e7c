// Replaces @grpc/proto-loader inside @grpc/grpc-js in the bundles. grpc-js loads it (and protobufjs, long) only to
// serve its own channelz and ORCA services; our BuildKit session (shared/src/docker/session.ts) serves two services
// with hand-written message codecs and never registers those. Leaving it out saves ~130 KB.
module.exports = {
  loadSync() {
    throw new Error('@grpc/proto-loader is not bundled: the BuildKit session needs no .proto files (build/bundle.mjs, REPLACED_MODULES)');
  },
};
