// Bundles every task under tasks/ into dist/tasks/<Task>/: task.js (esbuild) and index.js, the execution target that
// loads it (EXECUTION_TARGET), beside its task.json and icon.png, and
// lib/<package>.js for each package in SEPARATE_PACKAGES the task uses. The task version's minor and patch follow
// package.json, so each release moves every task and agents download the new bundle.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
// esbuild reports resolved paths with symlinks followed (a checkout may link its node_modules from elsewhere).
const nodeModules = existsSync(join(root, 'node_modules')) ? realpathSync(join(root, 'node_modules')) : join(root, 'node_modules');

/**
 * Packages only some runs need, each kept out of task.js in its own lib/<name>.js: a run parses it only when the
 * code first asks for it (`await import('yaml')`, or a `require` inside the function that needs it); a static import
 * still works, it just reads the file at start. Every run parses all of task.js (about 30 ms of CPU per MB on the
 * test machine), so what most runs never touch stays out of it (bench/startup measures the effect).
 */
const SEPARATE_PACKAGES = [
  'dockerode', // the engine tasks, once the inputs are read
  'ssh2', // only for DOCKER_HOST=ssh:// (see build/docker-modem-ssh-on-use.cjs)
  '@grpc/grpc-js', // only for a BuildKit build's session
  'tar-stream', // build contexts and results copied out of a container
  'azure-devops-node-api', // only publishMode 'api'
  'yaml', // charts
  'fflate', // chart packages (gzip)
  'semver', // chart versions and dependency ranges (task-lib's own gets a stand-in, see REPLACED_MODULES)
  'azure-pipelines-task-lib', // loaded by shared/src/pipeline/agent.ts on the first call that needs it
];

/**
 * Modules of those packages that the start itself needs, kept in task.js: task-lib's ##vso command formatter
 * (shared/src/pipeline/agent.ts writes commands with it before task-lib loads).
 */
const KEPT_INLINE = ['azure-pipelines-task-lib/taskcommand'];

/** Modules no task calls, replaced at build time by a file in build/ that says why (and throws if ever called). */
const REPLACED_MODULES = [
  // dockerode's own BuildKit session (and @grpc/proto-loader, protobufjs behind it).
  { importer: /[\\/]dockerode[\\/]lib$/, specifier: './session', by: 'dockerode-session-unused.cjs' },
  // grpc-js's channelz and ORCA service definitions.
  { importer: /[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src$/, specifier: '@grpc/proto-loader', by: 'grpc-proto-loader-unused.cjs' },
  // task-lib's ToolRunner (tl.tool, tl.exec).
  { importer: /[\\/]azure-pipelines-task-lib$/, specifier: './toolrunner', by: 'task-lib-toolrunner-unused.cjs' },
  // typed-rest-client's NTLM handler.
  { importer: /[\\/]typed-rest-client$/, specifier: './handlers/ntlm', by: 'rest-client-ntlm-unused.cjs' },
  // task-lib's semver: it calls only semver.lt on plain versions.
  { importer: /[\\/]azure-pipelines-task-lib$/, specifier: 'semver', by: 'task-lib-semver-lt.cjs' },
  // docker-modem's ssh2: it needs only the Client.
  { importer: /[\\/]docker-modem[\\/]lib$/, specifier: 'ssh2', by: 'ssh2-client-only.cjs' },
  // Not unused, but loaded on first use: ssh2 loads as docker-modem loads, and only an ssh:// engine needs it.
  { importer: /[\\/]docker-modem[\\/]lib$/, specifier: './ssh', by: 'docker-modem-ssh-on-use.cjs' },
];

/**
 * Node built-ins whose loading costs a start more than most runs use them (crypto alone is ~40 internal modules):
 * each import of one gets a stand-in that requires the real module on the first property read, so a run that fails
 * on its inputs, or never hashes, never loads it. Property names come from the building Node; a name newer than
 * that is still read through `get`, only a namespace import would not list it.
 */
const LAZY_BUILTINS = ['crypto', 'zlib', 'tls', 'https', 'http', 'http2'];

const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === 'lazy-builtin'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, async (args) => {
      const keys = Object.keys(await import(`node:${args.path}`)).filter((key) => key !== 'default');
      return {
        loader: 'js',
        contents: `const keys = ${JSON.stringify(keys)};
let loaded;
const load = () => (loaded ??= require(${JSON.stringify(`node:${args.path}`)}));
const builtin = new Proxy({}, {
  get: (_, key, receiver) => (key === '__esModule' ? undefined : Reflect.get(load(), key, receiver === builtin ? load() : receiver)),
  // An object inheriting from the module (\`Object.create(https)\`) gets its own property, as with the real module.
  set: (_, key, value, receiver) => Reflect.set(load(), key, value, receiver === builtin ? load() : receiver),
  has: (_, key) => key in load(),
  defineProperty: (_, key, descriptor) => Reflect.defineProperty(load(), key, descriptor),
  deleteProperty: (_, key) => Reflect.deleteProperty(load(), key),
  ownKeys: () => [...keys],
  getOwnPropertyDescriptor: (_, key) =>
    keys.includes(key) ? { configurable: true, enumerable: true, get: () => load()[key] } : undefined,
});
module.exports = builtin;
`,
      };
    });
  },
};

/**
 * Node built-ins that every start loads and our own modules import as a namespace (`import * as fs from 'node:fs'`).
 * esbuild wraps such an import of a CommonJS module in a copy of all its properties, once per importing file (fs has
 * about a hundred: 2 ms of a start for one task); our imports go through one ES module per built-in instead, copied
 * once. Packages keep their plain `require`.
 */
const SHARED_BUILTINS = ['fs', 'path', 'os'];

const sharedBuiltins = {
  name: 'shared-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${SHARED_BUILTINS.join('|')})$`);
    b.onResolve({ filter }, (args) => {
      if (args.namespace === 'shared-builtin') return { path: args.path, external: true };
      if (args.importer.includes(`${sep}node_modules${sep}`) || args.kind !== 'import-statement') return undefined;
      return { path: args.path.replace(/^node:/, ''), namespace: 'shared-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'shared-builtin' }, (args) => ({ loader: 'js', contents: `export * from "node:${args.path}";` }));
  },
};

const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const [, minor, patch] = version.split('.').map(Number);

/** `@grpc/grpc-js` → `grpc-grpc-js.js` */
const libFile = (pkg) => `${pkg.replace(/^@/, '').replace(/\//g, '-')}.js`;

/** The SEPARATE_PACKAGES entry `specifier` names (`azure-devops-node-api/TestApi` → `azure-devops-node-api`). */
const separatePackage = (specifier) =>
  KEPT_INLINE.includes(specifier) ? undefined : SEPARATE_PACKAGES.find((pkg) => specifier === pkg || specifier.startsWith(`${pkg}/`));

/**
 * Resolves each import of a separate package to `require('<libPrefix><file>')[specifier]`, noting the specifier in
 * `used`. Only the top-level copy of a package is separated: a dependency's own nested version stays in its bundle.
 */
function separatePackages(libPrefix, used, bundling) {
  return {
    name: 'separate-packages',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        const pkg = separatePackage(args.path);
        if (!pkg || pkg === bundling || args.namespace === 'separate' || args.pluginData === 'resolving') return undefined;
        const found = await b.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: 'resolving',
        });
        if (found.errors.length > 0 || !found.path.startsWith(join(nodeModules, ...pkg.split('/')) + sep)) return undefined;
        if (!used.has(pkg)) used.set(pkg, new Set());
        used.get(pkg).add(args.path);
        return { path: args.path, namespace: 'separate', pluginData: pkg };
      });
      b.onLoad({ filter: /.*/, namespace: 'separate' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(libPrefix + libFile(args.pluginData))})[${JSON.stringify(args.path)}];`,
        loader: 'js',
      }));
      b.onResolve({ filter: /.*/, namespace: 'separate' }, (args) => ({ path: args.path, external: true }));
    },
  };
}

const replaceModules = {
  name: 'replace-modules',
  setup(b) {
    const specifiers = new Set(REPLACED_MODULES.map((r) => r.specifier));
    b.onResolve({ filter: /.*/ }, (args) => {
      if (!specifiers.has(args.path)) return undefined;
      const rule = REPLACED_MODULES.find((r) => r.specifier === args.path && r.importer.test(args.resolveDir));
      return rule ? { path: join(root, 'build', rule.by) } : undefined;
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  // ssh2 tries an optional native addon and falls back to JS when it is missing.
  external: ['cpu-features', '*.node'],
};

/** The task's bundle, beside the execution target that loads it. */
const BUNDLE_FILE = 'task.js';

/**
 * The execution target the agent runs: it turns on Node's compile cache (`module.enableCompileCache`, Node 22.1 and
 * later; Node 20 has none and goes on without), then loads the bundle. Runs after the first on an agent then start
 * from V8's cached code for the bundle and its lib/ files instead of compiling them again (bench/startup). Node keeps
 * the cache in <os temp>/node-compile-cache, keyed by file and content (compiled code, no data of a run);
 * NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
const EXECUTION_TARGET = `require('node:module').enableCompileCache?.();\nrequire('./${BUNDLE_FILE}');\n`;

/** The bundle for one task and its execution target, then lib/ for every separate package it reaches (a lib may reach another). */
async function bundleTask(source, out, target) {
  const used = new Map();
  writeFileSync(join(out, target), EXECUTION_TARGET);
  await build({
    ...common,
    entryPoints: [join(source, 'src', 'index.ts')],
    outfile: join(out, BUNDLE_FILE),
    plugins: [lazyBuiltins, sharedBuiltins, replaceModules, separatePackages('./lib/', used)],
  });
  // A package reached only through code the bundle dropped (an unused export of a module's index.ts) needs no lib/.
  const index = readFileSync(join(out, BUNDLE_FILE), 'utf8');
  for (const pkg of [...used.keys()]) if (!index.includes(`./lib/${libFile(pkg)}`)) used.delete(pkg);
  const built = new Map();
  for (
    let pending = [...used.keys()];
    pending.length > 0;
    pending = [...used.keys()].filter((pkg) => built.get(pkg) !== [...used.get(pkg)].sort().join())
  ) {
    for (const pkg of pending) {
      const specifiers = [...used.get(pkg)].sort();
      built.set(pkg, specifiers.join());
      await build({
        ...common,
        stdin: {
          contents: `module.exports = {${specifiers.map((s) => `${JSON.stringify(s)}: require(${JSON.stringify(s)})`).join(', ')}};`,
          resolveDir: root,
          sourcefile: `lib/${libFile(pkg)}`,
        },
        outfile: join(out, 'lib', libFile(pkg)),
        plugins: [lazyBuiltins, replaceModules, separatePackages('./', used, pkg)],
      });
    }
  }
}

/** Task folders with a task.json and an entry point; a folder still missing either is not a task yet (the lint test says so). */
export function taskFolders() {
  const tasksDir = join(root, 'tasks');
  return readdirSync(tasksDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .filter((name) => {
      const complete = existsSync(join(tasksDir, name, 'task.json')) && existsSync(join(tasksDir, name, 'src', 'index.ts'));
      if (!complete) console.warn(`skipping tasks/${name}: it needs task.json and src/index.ts`);
      return complete;
    })
    .sort();
}

/**
 * Replaces `out` by `staging` with renames only, so that no build deletes a folder another build has just put in
 * place (the tests' builds run side by side): the old folder is moved aside, then removed.
 */
function swapIn(staging, out) {
  const asides = [];
  for (let attempt = 1; ; attempt++) {
    const aside = `${out}.old-${process.pid}-${attempt}`;
    try {
      renameSync(out, aside);
      asides.push(aside);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
    try {
      renameSync(staging, out);
      break;
    } catch (error) {
      // Another build put its folder in place between the two renames: move that one aside too.
      if (attempt >= 5 || !['ENOTEMPTY', 'EEXIST', 'EPERM'].includes(error.code)) throw error;
    }
  }
  for (const aside of asides) rmSync(aside, { recursive: true, force: true });
}

/** Bundles every task; throws when there is none, so a build never silently produces nothing. */
export async function bundleTasks() {
  const names = taskFolders();
  if (names.length === 0) throw new Error(`no task to bundle: no folder under ${join(root, 'tasks')} has task.json and src/index.ts`);
  for (const name of names) {
    const source = join(root, 'tasks', name);
    const out = join(root, 'dist', 'tasks', name);
    // Built beside and swapped in, so a task run while another process rebuilds sees one whole bundle or the other.
    const staging = `${out}.building-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    try {
      const task = JSON.parse(readFileSync(join(source, 'task.json'), 'utf8'));
      await bundleTask(source, staging, task.execution.Node20_1.target);
      task.version = { Major: task.version.Major, Minor: minor, Patch: patch };
      writeFileSync(join(staging, 'task.json'), JSON.stringify(task, null, 2) + '\n');
      copyFileSync(join(source, 'icon.png'), join(staging, 'icon.png'));
      swapIn(staging, out);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return names;
}

/** True when this module is the script node was started with (a file URL compare: paths may hold spaces). */
export function isMain(moduleUrl) {
  const script = process.argv[1];
  if (!script) return false;
  // Node reports the module by its real path; the command line may name it through a link.
  const real = existsSync(script) ? realpathSync(script) : resolve(script);
  return moduleUrl === pathToFileURL(real).href;
}

/** Runs a build script's `main`: any failure is one line on stderr and exit code 1, never a stack trace. */
export function runScript(name, main) {
  main().catch((error) => {
    // The tool that failed has printed its details above; this is the line that says the step failed.
    console.error(`${name}: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`);
    process.exitCode = 1;
  });
}

if (isMain(import.meta.url)) {
  runScript('bundle', async () => {
    const names = await bundleTasks();
    console.log(`bundled ${names.length} task(s) into ${relative(process.cwd(), join(root, 'dist', 'tasks')) || '.'}: ${names.join(', ')}`);
  });
}
