// Azure Pipelines expressions as the server and agent evaluate them: conditions (`succeeded()`, `and(…)`) and runtime
// expressions (`$[ stageDependencies.ci.build.outputs['push.digest'] ]`). The subset a pipeline of this repository
// writes, with the documented rules (learn.microsoft.com/azure/devops/pipelines/process/expressions): function names
// and member names are case-insensitive, string comparisons ignore case, `eq`/`ne` convert the right operand to the
// left one's type, a boolean becomes 'True'/'False' as a string. Anything else is refused, never guessed.

export type ExpressionValue = string | number | boolean | null | ExpressionObject;
export interface ExpressionObject {
  [key: string]: ExpressionValue;
}

/** The status functions, answered for where the expression stands (a step, a job, a stage). */
export type StatusFunction = 'succeeded' | 'failed' | 'succeededOrFailed' | 'always' | 'canceled';

export interface ExpressionContext {
  /** The named values an expression may read: `variables`, `dependencies`, `stageDependencies`. */
  roots: Record<string, ExpressionValue>;
  /** Undefined where the status functions do not apply (a runtime expression in variables). */
  status?: (fn: StatusFunction) => boolean;
}

type Node =
  | { kind: 'literal'; value: ExpressionValue }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'root'; name: string }
  | { kind: 'member'; target: Node; key: Node };

type Token = { kind: 'string' | 'number' | 'ident' | 'punct'; text: string; at: number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new Error(`unterminated string in expression: ${text}`);
        if (text[j] === "'" && text[j + 1] === "'") {
          value += "'";
          j += 2;
        } else if (text[j] === "'") {
          break;
        } else {
          value += text[j++];
        }
      }
      tokens.push({ kind: 'string', text: value, at: i });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const match = /^-?[0-9]+(\.[0-9]+)?/.exec(text.slice(i))!;
      tokens.push({ kind: 'number', text: match[0], at: i });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(text.slice(i))!;
      tokens.push({ kind: 'ident', text: match[0], at: i });
      i += match[0].length;
    } else if ('(),.[]'.includes(c)) {
      tokens.push({ kind: 'punct', text: c, at: i });
      i++;
    } else {
      throw new Error(`unexpected '${c}' at ${i} in expression: ${text}`);
    }
  }
  return tokens;
}

function parse(text: string): Node {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const expect = (punct: string) => {
    const token = tokens[pos++];
    if (token?.kind !== 'punct' || token.text !== punct) throw new Error(`expected '${punct}' in expression: ${text}`);
  };
  const expression = (): Node => {
    const token = tokens[pos++];
    if (!token) throw new Error(`expression ends early: ${text}`);
    if (token.kind === 'string') return { kind: 'literal', value: token.text };
    if (token.kind === 'number') return { kind: 'literal', value: Number(token.text) };
    if (token.kind !== 'ident') throw new Error(`unexpected '${token.text}' at ${token.at} in expression: ${text}`);
    const lower = token.text.toLowerCase();
    if (peek()?.text === '(') {
      pos++;
      const args: Node[] = [];
      if (peek()?.text !== ')') {
        for (;;) {
          args.push(expression());
          if (peek()?.text !== ',') break;
          pos++;
        }
      }
      expect(')');
      return { kind: 'call', name: lower, args };
    }
    if (lower === 'true' || lower === 'false') return { kind: 'literal', value: lower === 'true' };
    if (lower === 'null') return { kind: 'literal', value: null };
    let node: Node = { kind: 'root', name: token.text };
    for (;;) {
      if (peek()?.text === '.') {
        pos++;
        const member = tokens[pos++];
        if (member?.kind !== 'ident') throw new Error(`expected a name after '.' in expression: ${text}`);
        node = { kind: 'member', target: node, key: { kind: 'literal', value: member.text } };
      } else if (peek()?.text === '[') {
        pos++;
        const key = expression();
        expect(']');
        node = { kind: 'member', target: node, key };
      } else {
        return node;
      }
    }
  };
  const node = expression();
  if (pos !== tokens.length) throw new Error(`unexpected '${tokens[pos].text}' at ${tokens[pos].at} in expression: ${text}`);
  return node;
}

export function toBoolean(value: ExpressionValue): boolean {
  if (value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'string') return value !== '';
  return true;
}

/** A value as a variable holds it: booleans are 'True'/'False', null is empty. */
export function toText(value: ExpressionValue): string {
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'object') throw new Error('an object cannot be used as a string');
  return String(value);
}

/** `right` converted to `left`'s type, or undefined when it cannot be. */
function convertLike(left: ExpressionValue, right: ExpressionValue): ExpressionValue | undefined {
  if (left === null) return right === null ? null : undefined;
  if (typeof left === 'boolean') return toBoolean(right);
  if (typeof left === 'number') {
    const n = typeof right === 'string' ? (right.trim() === '' ? 0 : Number(right)) : typeof right === 'boolean' ? Number(right) : right;
    return typeof n === 'number' && !Number.isNaN(n) ? n : undefined;
  }
  if (typeof left === 'string') return typeof right === 'object' && right !== null ? undefined : toText(right);
  return undefined;
}

function equal(left: ExpressionValue, right: ExpressionValue): boolean {
  const converted = convertLike(left, right);
  if (converted === undefined) return false;
  if (typeof left === 'string') return left.toLowerCase() === (converted as string).toLowerCase();
  return left === converted;
}

function member(target: ExpressionValue, key: ExpressionValue): ExpressionValue {
  if (target === null || typeof target !== 'object') return null;
  const wanted = toText(key).toLowerCase();
  const found = Object.keys(target).find((k) => k.toLowerCase() === wanted);
  return found === undefined ? null : target[found];
}

function evaluateNode(node: Node, context: ExpressionContext): ExpressionValue {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'root': {
      const value = member(context.roots, node.name);
      if (value === null && !Object.keys(context.roots).some((k) => k.toLowerCase() === node.name.toLowerCase()))
        throw new Error(`'${node.name}' is not available here (available: ${Object.keys(context.roots).join(', ')})`);
      return value;
    }
    case 'member':
      return member(evaluateNode(node.target, context), evaluateNode(node.key, context));
    case 'call':
      return call(node, context);
  }
}

const STATUS_FUNCTIONS: Record<string, StatusFunction> = {
  succeeded: 'succeeded',
  failed: 'failed',
  succeededorfailed: 'succeededOrFailed',
  always: 'always',
  canceled: 'canceled',
  cancelled: 'canceled',
};

function call(node: Extract<Node, { kind: 'call' }>, context: ExpressionContext): ExpressionValue {
  const args = () => node.args.map((arg) => evaluateNode(arg, context));
  const arity = (min: number, max = min) => {
    if (node.args.length < min || node.args.length > max) throw new Error(`${node.name}() takes ${min}..${max} arguments`);
  };
  const status = STATUS_FUNCTIONS[node.name];
  if (status) {
    // With job or stage names as arguments the functions ask about those only: not emulated here.
    arity(0);
    if (!context.status) throw new Error(`${node.name}() cannot be used here`);
    return context.status(status);
  }
  switch (node.name) {
    case 'and':
      arity(2, 100);
      return node.args.every((arg) => toBoolean(evaluateNode(arg, context)));
    case 'or':
      arity(2, 100);
      return node.args.some((arg) => toBoolean(evaluateNode(arg, context)));
    case 'not':
      arity(1);
      return !toBoolean(evaluateNode(node.args[0], context));
    case 'eq': {
      arity(2);
      const [left, right] = args();
      return equal(left, right);
    }
    case 'ne': {
      arity(2);
      const [left, right] = args();
      return !equal(left, right);
    }
    case 'in':
    case 'notin': {
      arity(2, 100);
      const [left, ...rest] = args();
      const found = rest.some((right) => equal(left, right));
      return node.name === 'in' ? found : !found;
    }
    case 'startswith':
    case 'endswith':
    case 'contains': {
      arity(2);
      const [haystack, needle] = args().map((v) => toText(v).toLowerCase());
      if (node.name === 'startswith') return haystack.startsWith(needle);
      if (node.name === 'endswith') return haystack.endsWith(needle);
      return haystack.includes(needle);
    }
    case 'coalesce':
      arity(1, 100);
      return args().find((v) => v !== null && v !== '') ?? null;
    default:
      throw new Error(`the function ${node.name}() is not emulated by this runner`);
  }
}

/** Evaluates an expression (the text of a condition, or what is inside `$[ … ]`). */
export function evaluate(text: string, context: ExpressionContext): ExpressionValue {
  return evaluateNode(parse(text), context);
}

/** A condition's verdict. */
export function evaluateCondition(text: string, context: ExpressionContext): boolean {
  return toBoolean(evaluate(text, context));
}

const RUNTIME_EXPRESSION = /^\s*\$\[([\s\S]*)\]\s*$/;

/** The value of a variable written as `$[ … ]`, or undefined when the value is not a runtime expression. */
export function runtimeExpressionValue(value: string, context: ExpressionContext): string | undefined {
  const match = RUNTIME_EXPRESSION.exec(value);
  return match ? toText(evaluate(match[1], context)) : undefined;
}
