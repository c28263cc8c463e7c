// Replaces azure-pipelines-task-lib's `require('./toolrunner')` in the bundles. No task runs a tool (tl.tool,
// tl.exec, tl.execSync): they talk to the engine, registries and Azure DevOps over HTTP. Leaving it out saves
// ~40 KB per task and loading child_process's ToolRunner at every start.
class ToolRunner {
  constructor() {
    throw new Error("task-lib's ToolRunner is not bundled: no task runs a tool (build/bundle.mjs, REPLACED_MODULES)");
  }
}
module.exports = { ToolRunner };
