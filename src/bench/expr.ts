/**
 * Arithmetic expressions of a kernel spec (binding sizes, dispatch size, FLOP and byte counts):
 * numbers, variables (the shape variables and override constants of a case), + − * / % **,
 * parentheses and the functions ceil, floor, round, min, max, abs, sqrt, log2. Nothing else is
 * evaluated: a spec file cannot run code through an expression.
 */

export type Expr = string | number;

type Node = (vars: Readonly<Record<string, number>>) => number;

const FUNCTIONS: Record<string, (...a: number[]) => number> = {
  ceil: Math.ceil,
  floor: Math.floor,
  round: Math.round,
  min: Math.min,
  max: Math.max,
  abs: Math.abs,
  sqrt: Math.sqrt,
  log2: Math.log2,
};

const TOKEN = /\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|[-+*/%(),]))/y;

export class ExprError extends Error {
  override name = 'ExprError';
}

/** Parses `text` once; the result evaluates it for any variable values. */
export function compileExpr(text: Expr): { vars: Set<string>; eval: Node } {
  if (typeof text === 'number') {
    if (!Number.isFinite(text)) throw new ExprError(`${text} is not a finite number`);
    return { vars: new Set(), eval: () => text };
  }
  if (typeof text !== 'string') throw new ExprError(`expected a number or an expression string, not ${JSON.stringify(text)}`);
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(text);
    if (!m) throw new ExprError(`'${text}': unexpected '${text.slice(pos).trim()[0]}' at ${pos + 1}`);
    tokens.push(m[1] ?? m[2] ?? m[3]!);
    pos = TOKEN.lastIndex;
  }
  const vars = new Set<string>();
  let i = 0;
  const peek = () => tokens[i];
  const fail = (what: string): never => {
    throw new ExprError(`'${text}': ${what}`);
  };
  const expect = (t: string) => {
    if (tokens[i] !== t) fail(`expected '${t}'${tokens[i] === undefined ? ' at the end' : `, found '${tokens[i]}'`}`);
    i++;
  };
  const sum = (): Node => {
    let l = product();
    while (peek() === '+' || peek() === '-') {
      const op = tokens[i++];
      const a = l;
      const b = product();
      l = op === '+' ? (v) => a(v) + b(v) : (v) => a(v) - b(v);
    }
    return l;
  };
  const product = (): Node => {
    let l = unary();
    while (peek() === '*' || peek() === '/' || peek() === '%') {
      const op = tokens[i++];
      const a = l;
      const b = unary();
      l = op === '*' ? (v) => a(v) * b(v) : op === '/' ? (v) => a(v) / b(v) : (v) => a(v) % b(v);
    }
    return l;
  };
  const unary = (): Node => {
    if (peek() === '-') {
      i++;
      const a = unary();
      return (v) => -a(v);
    }
    if (peek() === '+') {
      i++;
      return unary();
    }
    return power();
  };
  const power = (): Node => {
    const base = atom();
    if (peek() !== '**') return base;
    i++;
    const exp = unary();
    return (v) => base(v) ** exp(v);
  };
  const atom = (): Node => {
    const t = tokens[i++];
    if (t === undefined) return fail('unexpected end');
    if (t === '(') {
      const e = sum();
      expect(')');
      return e;
    }
    if (/^[\d.]/.test(t)) {
      const n = Number(t);
      return () => n;
    }
    if (/^[A-Za-z_]/.test(t)) {
      if (peek() === '(') {
        const f = FUNCTIONS[t];
        if (!f) fail(`unknown function '${t}' (functions: ${Object.keys(FUNCTIONS).join(', ')})`);
        i++;
        const args: Node[] = [];
        if (peek() !== ')') {
          args.push(sum());
          while (peek() === ',') {
            i++;
            args.push(sum());
          }
        }
        expect(')');
        return (v) => f!(...args.map((a) => a(v)));
      }
      vars.add(t);
      return (v) => {
        const x = v[t];
        if (x === undefined) throw new ExprError(`'${text}': unknown variable '${t}' (variables: ${Object.keys(v).join(', ') || 'none'})`);
        return x;
      };
    }
    return fail(`unexpected '${t}'`);
  };
  if (!tokens.length) fail('empty expression');
  const root = sum();
  if (i < tokens.length) fail(`unexpected '${tokens[i]}'`);
  return { vars, eval: root };
}

/** Evaluates an expression for these variables; throws ExprError with the expression in the message. */
export function evalExpr(text: Expr, vars: Readonly<Record<string, number>>): number {
  const x = compileExpr(text).eval(vars);
  if (!Number.isFinite(x)) throw new ExprError(`'${text}' is ${x} for ${Object.entries(vars).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  return x;
}
