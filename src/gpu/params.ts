/**
 * Kernel parameters by name. Each kernel's uniform struct is declared once as a schema: its fields
 * by WGSL name and type, in declaration order (test/params.test.ts holds every schema against the
 * struct in its .wgsl file). Offsets follow WGSL's layout rules for the uniform address space and
 * are computed once per schema. `schema.with({ ... })` names every field (a missing or misspelt one
 * is a type error); the engine writes the values at their offsets, checking them as it goes (a
 * missing or unknown name throws).
 */

/** Bytes of one dispatch's uniform slot: the most a schema's struct may take. */
export const UNIFORM_SLOT_BYTES = 256;

/** A WGSL scalar type a uniform field may have. */
export type ScalarType = 'u32' | 'i32' | 'f32';

/** A WGSL vector type a uniform field may have (the short spellings: vec4f is vec4<f32>). */
export type VectorType = `vec${2 | 3 | 4}${'u' | 'i' | 'f'}`;

/** `array<E, count>`: a fixed-size array field (arrayOf). */
export interface ArrayType<E extends FieldType = FieldType> {
  readonly array: E;
  readonly count: number;
}

/** The type of a uniform field: a scalar, a vector, a fixed-size array, or a nested struct. */
export type FieldType = ScalarType | VectorType | ArrayType<any> | StructLayout<any>;

/** A struct's fields: WGSL name → type, in declaration order. */
export type Fields = { readonly [name: string]: FieldType };

/**
 * The value a field takes: a number for a scalar; numbers for a vector (all of them); for an array,
 * up to `count` elements (the rest are zero); for a nested struct, its values.
 */
export type FieldValue<T> = T extends ScalarType
  ? number
  : T extends VectorType
    ? readonly number[]
    : T extends ArrayType<infer E>
      ? readonly FieldValue<E>[]
      : T extends StructLayout<infer F>
        ? ParamValues<F>
        : never;

/** Values for every field of a struct, by name. */
export type ParamValues<F extends Fields> = { readonly [K in keyof F]: FieldValue<F[K]> };

/** The values of a schema or struct type: `ValuesOf<typeof LAYERNORM>`. */
export type ValuesOf<S> = S extends StructLayout<infer F> ? ParamValues<F> : never;

/** One field of a laid-out struct. */
export interface FieldLayout {
  readonly name: string;
  readonly type: FieldType;
  /** Byte offset in the struct. */
  readonly offset: number;
}

/** Scalar component kinds, as the writer switches on them. */
const U32 = 0;
const I32 = 1;
const F32 = 2;

/** How one field is written: kind of its scalars, their count (vectors), its array or struct. */
interface Step {
  name: string;
  offset: number;
  /** Scalar kind of a scalar or vector field; -1 for arrays and structs. */
  kind: number;
  /** Components of a vector field (1 for a scalar). */
  lanes: number;
  array: { count: number; stride: number; elem: Step } | null;
  struct: StructLayout<Fields> | null;
}

function roundUp(align: number, n: number): number {
  return Math.ceil(n / align) * align;
}

function isArray(t: FieldType): t is ArrayType<any> {
  return typeof t === 'object' && 'array' in t;
}

/** The WGSL spelling of a field type, e.g. `array<Job, 4>`. */
export function wgslType(t: FieldType): string {
  if (typeof t === 'string') return t;
  if (isArray(t)) return `array<${wgslType(t.array)}, ${t.count}>`;
  return t.name;
}

/** Alignment and size of a type in the uniform address space (WGSL "Alignment and Size"). */
function alignSize(t: FieldType): { align: number; size: number } {
  if (typeof t === 'string') {
    if (t === 'u32' || t === 'i32' || t === 'f32') return { align: 4, size: 4 };
    const n = Number(t[3]);
    return { align: n === 2 ? 8 : 16, size: 4 * n };
  }
  if (isArray(t)) {
    const e = alignSize(t.array);
    const stride = roundUp(e.align, e.size);
    if (stride % 16 !== 0) throw new Error(`${wgslType(t)}: element stride ${stride} in a uniform struct is not a multiple of 16 bytes`);
    return { align: roundUp(16, e.align), size: stride * t.count };
  }
  return { align: roundUp(16, t.align), size: t.size };
}

function scalarKind(t: ScalarType | VectorType): number {
  const c = t.length === 3 ? t[0] : t[4];
  return c === 'u' ? U32 : c === 'i' ? I32 : F32;
}

function step(name: string, offset: number, t: FieldType): Step {
  if (typeof t === 'string') return { name, offset, kind: scalarKind(t), lanes: t.length === 3 ? 1 : Number(t[3]), array: null, struct: null };
  if (isArray(t)) {
    const e = alignSize(t.array);
    return { name, offset, kind: -1, lanes: 0, array: { count: t.count, stride: roundUp(e.align, e.size), elem: step(name, 0, t.array) }, struct: null };
  }
  return { name, offset, kind: -1, lanes: 0, array: null, struct: t };
}

/**
 * A struct's layout in the uniform address space: each member at the next multiple of its
 * alignment (16 for arrays and structs), any member after a struct at least roundUp(16, its size)
 * past it, the struct's size rounded up to its alignment (the largest of its members').
 */
export class StructLayout<F extends Fields> {
  /** Fields in declaration order, with their byte offsets. */
  readonly layout: readonly FieldLayout[];
  /** Bytes the struct takes (SizeOf). */
  readonly size: number;
  /** Alignment of the struct (AlignOf). */
  readonly align: number;
  private readonly steps: readonly Step[];

  constructor(
    /** The WGSL struct's name. */
    readonly name: string,
    /** The fields as declared. */
    readonly fields: F,
  ) {
    const layout: FieldLayout[] = [];
    let end = 0;
    let align = 4;
    for (const [field, type] of Object.entries(fields)) {
      const a = alignSize(type);
      const offset = roundUp(a.align, end);
      layout.push({ name: field, type, offset });
      // A member after a nested struct starts at least roundUp(16, its size) past it.
      end = offset + (type instanceof StructLayout ? roundUp(16, a.size) : a.size);
      align = Math.max(align, a.align);
    }
    if (!layout.length) throw new Error(`struct ${name}: no fields`);
    this.layout = layout;
    this.align = align;
    this.size = roundUp(align, end);
    this.steps = layout.map((f) => step(f.name, f.offset, f.type));
  }

  /**
   * Writes `values` at `base` in `view` (little-endian), checking them on the way: each field a
   * value of its shape, no name that is not a field. With `partial`, fields left out are not
   * written (nor are array elements past the values given, nor padding): the view is zeroed
   * beforehand.
   */
  write(view: DataView, base: number, values: Partial<ParamValues<F>>, partial = false, where = this.name): void {
    const v = values as Record<string, unknown>;
    let given = 0;
    for (const s of this.steps) {
      const x = v[s.name];
      if (x === undefined) {
        if (partial) continue;
        throw new Error(`${where}: missing field '${s.name}'`);
      }
      given++;
      const at = base + s.offset;
      if (s.lanes === 1) {
        if (typeof x !== 'number') throw new Error(`${where}: field '${s.name}' takes a number`);
        writeScalar(view, at, s.kind, x);
      } else if (s.array) {
        if (!Array.isArray(x) || x.length > s.array.count) throw new Error(`${where}: field '${s.name}' takes up to ${s.array.count} elements`);
        const e = s.array.elem;
        for (let i = 0; i < x.length; i++) {
          const xi: unknown = x[i];
          const ai = at + i * s.array.stride;
          if (e.struct) e.struct.write(view, ai, xi as ParamValues<Fields>, false, `${where}.${s.name}[${i}]`);
          else if (e.lanes === 1 && typeof xi === 'number') writeScalar(view, ai, e.kind, xi);
          else if (!Array.isArray(xi) || xi.length !== e.lanes) throw new Error(`${where}: field '${s.name}' takes elements of ${e.lanes} numbers`);
          else writeLanes(view, ai, e, xi, where);
        }
      } else if (s.struct) s.struct.write(view, at, x as ParamValues<Fields>, false, `${where}.${s.name}`);
      else if (!Array.isArray(x) || x.length !== s.lanes) throw new Error(`${where}: field '${s.name}' takes ${s.lanes} numbers`);
      else writeLanes(view, at, s, x, where);
    }
    let named = 0;
    for (const k in v) if (!partial || v[k] !== undefined) named++;
    if (named !== given) {
      const extra = Object.keys(v).filter((k) => !(k in this.fields));
      throw new Error(`${where}: no field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')} in struct ${this.name}`);
    }
  }
}

function writeScalar(view: DataView, at: number, kind: number, x: number): void {
  if (kind === U32) view.setUint32(at, x >>> 0, true);
  else if (kind === I32) view.setInt32(at, x | 0, true);
  else view.setFloat32(at, x, true);
}

function writeLanes(view: DataView, at: number, s: Step, xs: readonly unknown[], where: string): void {
  for (let i = 0; i < s.lanes; i++) {
    const x = xs[i];
    if (typeof x !== 'number') throw new Error(`${where}: field '${s.name}' takes numbers`);
    writeScalar(view, at + 4 * i, s.kind, x);
  }
}

/**
 * Values bound to their schema: what Engine.dispatch takes as a kernel's parameters. They are
 * checked as they are written (ParamSchema.pack).
 */
export interface KernelParams {
  readonly schema: ParamSchema<any>;
  readonly values: Partial<ParamValues<any>>;
  /** Fields left out are zero (withZeros). */
  readonly partial: boolean;
}

/**
 * The uniform struct `struct` of kernels/`kernel`.wgsl (the file that declares it; kernels that
 * include that file use the same schema).
 */
export class ParamSchema<F extends Fields> extends StructLayout<F> {
  /** "kernel struct", for messages. */
  readonly label: string;

  constructor(
    /** The kernel file declaring the struct (kernels/NAME.wgsl or kernels/generated/NAME.wgsl). */
    readonly kernel: string,
    struct: string,
    fields: F,
  ) {
    super(struct, fields);
    this.label = `${kernel} ${struct}`;
    if (this.size > UNIFORM_SLOT_BYTES) throw new Error(`${this.label}: ${this.size} bytes, more than a uniform slot's ${UNIFORM_SLOT_BYTES}`);
  }

  /** Binds `values` (every field by name, nothing else) to this schema for a dispatch. */
  with(values: ParamValues<F>): KernelParams {
    return { schema: this, values, partial: false };
  }

  /**
   * As with(), every field not named being zero: for structs shared by entry points that each read
   * some of the fields. A misspelt name is still an error.
   */
  withZeros(values: Partial<ParamValues<F>>): KernelParams {
    return { schema: this, values, partial: true };
  }

  /**
   * Writes bound params into a zeroed uniform slot; throws on a missing field (with()), a name
   * that is not a field, or a value of the wrong shape.
   */
  pack(view: DataView, params: KernelParams): void {
    this.write(view, 0, params.values, params.partial, this.label);
  }
}

/** Declares kernel `kernel`'s uniform struct `struct`: its fields by WGSL name and type, in declaration order. */
export function paramSchema<F extends Fields>(kernel: string, struct: string, fields: F): ParamSchema<F> {
  return new ParamSchema(kernel, struct, fields);
}

/** A struct type for a field of a schema (e.g. the element type of an array field). */
export function structType<F extends Fields>(name: string, fields: F): StructLayout<F> {
  return new StructLayout(name, fields);
}

/** `array<elem, count>` as a field type. */
export function arrayOf<E extends FieldType>(elem: E, count: number): ArrayType<E> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`array count must be a positive integer, got ${count}`);
  return { array: elem, count };
}
