import { createHash } from 'node:crypto';

/*
 * Image references and digests, after the grammar of distribution/reference (reference.go, normalize.go):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component { "/" path-component }
 *   domain     := host [ ":" port ]          (a first segment with '.' or ':', or 'localhost')
 *   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [\w][\w.-]{0,127}
 *
 * Pure: no I/O. Only sha256 digests are accepted, because every registry and engine we talk to uses them and a
 * digest we cannot verify is worse than one we refuse.
 */

/** `sha256:` followed by 64 lower-case hex characters. */
export type Digest = `sha256:${string}`;

/** A parsed image reference. `registry` + `repository` name the repository; `tag` and `digest` are optional. */
export interface ImageReference {
  /** `host[:port]` as written (Docker Hub aliases become `docker.io`), e.g. `myrepo.azurecr.io`, `127.0.0.1:5000`. */
  registry: string;
  /** The path inside the registry, e.g. `team/app`; `library/nginx` for Docker Hub's single-segment names. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

/** Options of `parseReference`. */
export interface ParseReferenceOptions {
  /**
   * The registry for references that do not name one (first segment without `.`/`:` and not `localhost`), e.g. the
   * host of the service connection for `repository` inputs. Default `docker.io`.
   */
  defaultRegistry?: string;
}

/** Docker Hub as it appears in references. */
export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API answers (`docker.io` itself serves no `/v2/`). */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
/** Names that mean Docker Hub; normalised to `docker.io` as the Docker CLI does. */
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** distribution's limit on a repository name (NameTotalLengthMax), host excluded. */
const MAX_NAME_LENGTH = 255;

const TAG = /^[\w][\w.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[a-fA-F0-9:.%]+\]$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

/** How much of a value a message quotes: a result line stays readable whatever was typed. */
const MAX_SHOWN_CHARS = 200;

/**
 * A value as a message quotes it: control and invisible characters escaped (`\n`, `\u{200B}`), so a line break in
 * a value cannot split a one-line result and a zero-width character can be seen; cut after `max` characters.
 */
export function printable(text: string, max = MAX_SHOWN_CHARS): string {
  const chars = Array.from(text);
  const shown = chars.slice(0, max).map((char) => {
    if (char === '\n') return '\\n';
    if (char === '\r') return '\\r';
    if (char === '\t') return '\\t';
    return /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(char) || (char !== ' ' && /\p{Zs}/u.test(char))
      ? `\\u{${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}}`
      : char;
  });
  return chars.length > max ? `${shown.join('')}… (${chars.length} characters)` : shown.join('');
}

/**
 * Letters of other scripts that are drawn like ASCII ones. A reference typed with one (or pasted from a document
 * that has one) names another image, so it is refused with the letter it looks like rather than rewritten.
 */
const LOOK_ALIKES: Record<string, string> = {
  а: 'a',
  е: 'e',
  о: 'o',
  р: 'p',
  с: 'c',
  у: 'y',
  х: 'x',
  ѕ: 's',
  і: 'i',
  ј: 'j',
  һ: 'h',
  ԁ: 'd',
  ԛ: 'q',
  ԝ: 'w',
  ӏ: 'l',
  А: 'A',
  В: 'B',
  Е: 'E',
  К: 'K',
  М: 'M',
  Н: 'H',
  О: 'O',
  Р: 'P',
  С: 'C',
  Т: 'T',
  Х: 'X',
  α: 'a',
  ο: 'o',
  ν: 'v',
  ρ: 'p',
  ι: 'i',
  Α: 'A',
  Β: 'B',
  Ε: 'E',
  Ζ: 'Z',
  Η: 'H',
  Ι: 'I',
  Κ: 'K',
  Μ: 'M',
  Ν: 'N',
  Ο: 'O',
  Ρ: 'P',
  Τ: 'T',
  Υ: 'Y',
  Χ: 'X',
  ı: 'i',
};

/** `U+0430`. */
function codePoint(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The ASCII character `char` is drawn like, if any (`а` → `a`, `ｅ` → `e`, `é` → `e`). */
function asciiLookAlike(char: string): string | undefined {
  const like = LOOK_ALIKES[char] ?? char.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  return /^[\x20-\x7e]$/.test(like) ? like : undefined;
}

/**
 * Why `text` cannot be (part of) an image reference for the characters it holds: the first control character (a line
 * break, a tab) or non-ASCII character, named by its code point and, for a look-alike letter, the letter it looks
 * like. Undefined when every character is printable ASCII. References are ASCII by the distribution grammar; the
 * engine reports these only as `invalid reference format`.
 */
export function characterProblem(text: string): string | undefined {
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code === 0x0a || code === 0x0d) return 'it contains a line break';
    if (code < 0x20 || code === 0x7f) return `it contains the control character ${codePoint(char)}`;
    if (code > 0x7e) {
      const like = asciiLookAlike(char);
      const shown = /[\p{L}\p{N}\p{P}\p{S}]/u.test(char) ? `'${char}' (${codePoint(char)})` : codePoint(char);
      return `${shown} is not ASCII${like ? `, though it looks like '${like}'` : ''}: image references are ASCII only`;
    }
  }
  return undefined;
}

/** A string that is not a valid image reference (or digest). The message says what is wrong with it. */
export class InvalidReferenceError extends Error {
  constructor(
    /** The text as given. */
    readonly text: string,
    /** Why it is not valid, e.g. `repository names are lower case`. */
    readonly reason: string,
    what = 'an image reference',
  ) {
    super(`not ${what}: '${printable(text)}' (${reason})`);
    this.name = 'InvalidReferenceError';
  }
}

/** True for `sha256:<64 lower-case hex>`. */
export function isDigest(value: string): value is Digest {
  return SHA256_DIGEST.test(value);
}

/** Why `value` is not a digest we accept, or undefined when it is one. */
function digestProblem(value: string): string | undefined {
  if (isDigest(value)) return undefined;
  const colon = value.indexOf(':');
  if (colon <= 0) return `a digest is 'sha256:' followed by 64 hex characters, got '${value}'`;
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (algorithm !== 'sha256') return `only sha256 digests are supported, got '${algorithm}'`;
  if (!/^[a-fA-F0-9]*$/.test(hex)) return "a sha256 digest has only hex characters after 'sha256:'";
  if (hex.length !== 64) return `a sha256 digest has 64 hex characters, this one has ${hex.length}`;
  return 'sha256 digests are written in lower case';
}

/** Checks and returns a digest; throws `InvalidReferenceError` saying what is wrong otherwise. */
export function parseDigest(value: string): Digest {
  const text = value.trim();
  const problem = digestProblem(text);
  if (problem) throw new InvalidReferenceError(value, problem, 'a digest');
  return text as Digest;
}

/** `sha256:<hex>` of the bytes. */
export function sha256Digest(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** True when `tag` is a valid tag (`[\w][\w.-]{0,127}`). */
export function isTag(tag: string): boolean {
  return TAG.test(tag);
}

/** Why `tag` is not a valid tag, or undefined. */
export function tagProblem(tag: string): string | undefined {
  if (TAG.test(tag)) return undefined;
  if (tag.length === 0) return 'the tag is empty';
  const characters = characterProblem(tag);
  if (characters) return `tag '${printable(tag)}': ${characters}`;
  if (tag.length > 128) return `a tag has at most 128 characters, this one has ${tag.length}`;
  if (/^[.-]/.test(tag)) return `tag '${printable(tag)}' starts with '${tag[0]}' (tags start with a letter, digit or '_')`;
  return `tag '${printable(tag)}' may contain only letters, digits, '_', '.' and '-'`;
}

/** True when the first path segment of a name is a registry host (contains `.` or `:`, or is `localhost`). */
function looksLikeHost(segment: string): boolean {
  return segment.includes('.') || segment.includes(':') || segment === 'localhost';
}

function hostProblem(host: string): string | undefined {
  let name = host;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return `registry host '${host}' has an unclosed '['`;
    name = host.slice(0, end + 1);
    const rest = host.slice(end + 1);
    if (rest && !rest.startsWith(':')) return `registry host '${host}' has text after ']'`;
    if (rest) port = rest.slice(1);
    if (!IPV6_HOST.test(name)) return `registry host '${host}' is not a valid IPv6 address`;
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
    if (!name) return `registry host '${host}' has no name before the port`;
    for (const label of name.split('.')) {
      if (!DOMAIN_LABEL.test(label)) return `registry host '${name}' is not a valid host name`;
    }
  }
  if (port !== undefined) {
    if (!/^[0-9]+$/.test(port)) return `registry port '${port}' is not a number`;
    const value = Number(port);
    if (value < 1 || value > 65535) return `registry port ${port} is out of range`;
  }
  return undefined;
}

/** Canonical registry name: Docker Hub's aliases become `docker.io`; other hosts are kept as written. */
export function canonicalRegistry(registry: string): string {
  const lower = registry.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : registry;
}

/** True when two registry names denote the same registry (case-insensitive; Docker Hub aliases are equal). */
export function sameRegistry(a: string, b: string): boolean {
  return canonicalRegistry(a).toLowerCase() === canonicalRegistry(b).toLowerCase();
}

/** Splits `text` into name, tag and digest without validating them. */
function split(text: string): { name: string; tag?: string; digest?: string } {
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

function parseName(text: string, name: string, options: ParseReferenceOptions): { registry: string; repository: string } {
  if (!name) throw new InvalidReferenceError(text, 'the repository name is empty');
  const slash = name.indexOf('/');
  let registry: string;
  let path: string;
  if (slash > 0 && looksLikeHost(name.slice(0, slash))) {
    registry = name.slice(0, slash);
    path = name.slice(slash + 1);
    const problem = hostProblem(registry);
    if (problem) throw new InvalidReferenceError(text, problem);
  } else {
    if (looksLikeHost(name) && slash < 0 && name.includes(':')) {
      // `host:port:tag` without a path: a ':' left in the name can only be a port.
      throw new InvalidReferenceError(text, 'a registry host needs a repository path after it');
    }
    registry = options.defaultRegistry ?? DOCKER_HUB;
    path = name;
  }
  registry = canonicalRegistry(registry);
  if (!path) throw new InvalidReferenceError(text, `registry '${registry}' needs a repository path after it`);
  if (/[A-Z]/.test(path)) throw new InvalidReferenceError(text, 'repository names are lower case');
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  for (const component of path.split('/')) {
    if (!component) throw new InvalidReferenceError(text, "the repository path has an empty segment ('//' or a '/' at an end)");
    if (!PATH_COMPONENT.test(component)) {
      throw new InvalidReferenceError(
        text,
        `path segment '${component}' must be lower-case letters and digits, joined by '.', '_', '__' or '-'`,
      );
    }
  }
  if (path.length > MAX_NAME_LENGTH) {
    throw new InvalidReferenceError(text, `a repository name has at most ${MAX_NAME_LENGTH} characters, this one has ${path.length}`);
  }
  return { registry, repository: path };
}

/**
 * Parses an image reference: `[host[:port]/]path[:tag][@sha256:…]`. Docker Hub names get their defaults
 * (`nginx` → `docker.io/library/nginx`). Throws `InvalidReferenceError` saying what is wrong, e.g.
 * `not an image reference: 'Team/SVC::1.4.0' (repository names are lower case)`.
 */
export function parseReference(value: string, options: ParseReferenceOptions = {}): ImageReference {
  const text = value.trim();
  if (!text) throw new InvalidReferenceError(value, 'it is empty');
  const characters = characterProblem(text);
  if (characters) throw new InvalidReferenceError(value, characters);
  if (/\s/.test(text)) throw new InvalidReferenceError(value, 'it contains white space');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new InvalidReferenceError(value, `drop the '${text.slice(0, text.indexOf('://') + 3)}' prefix`);
  }
  const parts = split(text);
  if (parts.digest !== undefined && parts.digest.includes('@')) throw new InvalidReferenceError(value, "it has more than one '@'");
  const { registry, repository } = parseName(value, parts.name, options);
  const reference: ImageReference = { registry, repository };
  if (parts.tag !== undefined) {
    const problem = tagProblem(parts.tag);
    if (problem) throw new InvalidReferenceError(value, problem);
    reference.tag = parts.tag;
  }
  if (parts.digest !== undefined) {
    const problem = digestProblem(parts.digest);
    if (problem) throw new InvalidReferenceError(value, problem);
    reference.digest = parts.digest as Digest;
  }
  return reference;
}

/**
 * Parses a repository without tag or digest (`host/path` or `path`), e.g. a `repository` input whose host may come
 * from the service connection (`defaultRegistry`).
 */
export function parseRepository(value: string, options: ParseReferenceOptions = {}): ImageReference {
  const reference = parseReference(value, options);
  if (reference.tag !== undefined || reference.digest !== undefined) {
    throw new InvalidReferenceError(value, 'a repository has no tag or digest', 'a repository');
  }
  return reference;
}

/** `host/path`, e.g. `myrepo.azurecr.io/prod/delivery`. */
export function formatRepository(reference: Pick<ImageReference, 'registry' | 'repository'>): string {
  return `${reference.registry}/${reference.repository}`;
}

/** `host/path[:tag][@digest]`, the full form with the registry always written. */
export function formatReference(reference: ImageReference): string {
  let text = formatRepository(reference);
  if (reference.tag !== undefined) text += `:${reference.tag}`;
  if (reference.digest !== undefined) text += `@${reference.digest}`;
  return text;
}

/** `host/path:tag`. */
export function formatTagged(reference: Pick<ImageReference, 'registry' | 'repository'>, tag: string): string {
  return `${formatRepository(reference)}:${tag}`;
}

/** `host/path@sha256:…`, the pinned form a deployment should use. */
export function formatPinned(reference: Pick<ImageReference, 'registry' | 'repository'>, digest: Digest): string {
  return `${formatRepository(reference)}@${digest}`;
}

/** The host without its port (`[::1]:5000` → `[::1]`, `localhost:5000` → `localhost`). */
function hostName(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(0, registry.indexOf(']') + 1);
  const colon = registry.indexOf(':');
  return colon < 0 ? registry : registry.slice(0, colon);
}

/** True for `localhost`, `127.0.0.0/8` and `[::1]` (with or without a port): those are reached over plain HTTP. */
export function isLoopbackHost(registry: string): boolean {
  const name = hostName(registry).toLowerCase();
  if (name === 'localhost' || name === '[::1]' || name === '::1') return true;
  const octets = name.split('.');
  return octets.length === 4 && octets[0] === '127' && octets.every((o) => /^[0-9]{1,3}$/.test(o) && Number(o) <= 255);
}

/** Host (and port) that serves the registry API: `registry-1.docker.io` for Docker Hub, the registry itself otherwise. */
export function registryApiHost(registry: string): string {
  return canonicalRegistry(registry) === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

/** Base URL of the registry API: `http://` for loopback hosts, `https://` for every other. */
export function registryBaseUrl(registry: string): string {
  return `${isLoopbackHost(registry) ? 'http' : 'https'}://${registryApiHost(registry)}`;
}
