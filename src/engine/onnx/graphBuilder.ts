/**
 * A small ONNX graph builder: declare inputs, outputs, initializers and nodes, then write a
 * `.onnx` file with large weights in an external-data file beside it (so models past protobuf's
 * 2 GB limit still load). It knows nothing about language models; llamaGraph.ts uses it to build
 * decoders, and tests use it to build tiny graphs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AttributeType, ModelProto, TensorDataType } from './onnxProto';
import { Steps, runSteps } from '../util/steps';

export type Dim = number | string;
export type AttrValue = { i: number } | { f: number } | { s: string } | { ints: number[] } | { floats: number[] };
export type TensorData = Float32Array | Uint8Array | Int8Array | Int32Array | BigInt64Array | Uint16Array;

interface Initializer {
  name: string;
  dataType: TensorDataType;
  dims: number[];
  bytes: Uint8Array;
}

interface NodeSpec {
  opType: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

interface ValueInfo {
  name: string;
  dataType: TensorDataType;
  shape: Dim[];
}

/** Initializers at or above this size go to the external-data file. */
const EXTERNAL_THRESHOLD = 1024;
/** Alignment of each tensor in the external-data file, so it can be memory-mapped. */
const EXTERNAL_ALIGN = 64;
/** Bytes written between two yields of saveSteps. */
const WRITE_SLICE = 8 << 20;

export class GraphBuilder {
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly nodes: NodeSpec[] = [];
  private readonly names = new Set<string>();
  private counter = 0;
  private readonly opsets = new Map<string, number>();

  constructor(readonly graphName: string, opset = 21) {
    this.opsets.set('', opset);
  }

  /** Declares a `com.microsoft` (or other) operator set the graph uses. */
  useOpset(domain: string, version: number): void {
    this.opsets.set(domain, version);
  }

  /**
   * Declares a graph input. With `defaultValue` an initializer of the same name is added, which
   * makes the input optional (ONNX semantics): the default is used unless the caller feeds it.
   */
  input(name: string, dataType: TensorDataType, shape: Dim[], defaultValue?: TensorData): string {
    this.claim(name);
    this.inputs.push({ name, dataType, shape });
    if (defaultValue) this.addInitializer(name, dataType, shape as number[], defaultValue);
    return name;
  }

  output(name: string, dataType: TensorDataType, shape: Dim[]): void {
    this.outputs.push({ name, dataType, shape });
  }

  /** Adds a constant tensor; `name` defaults to a fresh one. Returns the name. */
  initializer(dataType: TensorDataType, dims: number[], data: TensorData, name?: string): string {
    const n = name ?? this.fresh('const');
    if (name) this.claim(name);
    this.addInitializer(n, dataType, dims, data);
    return n;
  }

  private addInitializer(n: string, dataType: TensorDataType, dims: number[], data: TensorData): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const expected = dims.reduce((a, b) => a * b, 1) * bytesPerElement(dataType);
    if (bytes.length !== expected) throw new Error(`initializer ${n}: ${bytes.length} bytes for dims [${dims}] of type ${dataType}`);
    this.initializers.push({ name: n, dataType, dims, bytes });
  }

  int64s(values: number[], dims: number[] = [values.length]): string {
    return this.initializer(TensorDataType.INT64, dims, BigInt64Array.from(values.map(BigInt)));
  }

  floats(values: number[], dims: number[] = [values.length]): string {
    return this.initializer(TensorDataType.FLOAT, dims, Float32Array.from(values));
  }

  /**
   * Adds a node and returns its output names (fresh ones unless given). `outputs` may be a count;
   * an empty string in `inputs` marks an omitted optional input, as ONNX does.
   */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: { outputs?: number | string[]; domain?: string } = {}): string[] {
    const outs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, () => this.fresh(opType.toLowerCase()));
    for (const o of outs) if (o) this.names.add(o);
    this.nodes.push({ opType, domain: opts.domain ?? '', name: this.fresh(`${opType}_node`), inputs, outputs: outs, attrs });
    return outs;
  }

  /** Convenience for a node with exactly one output. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain?: string): string {
    return this.node(opType, inputs, attrs, { domain })[0];
  }

  /**
   * Writes `<dir>/<fileName>` and, when any initializer is large, `<dir>/<fileName>_data`.
   * Returns the paths written.
   */
  save(dir: string, fileName = 'model.onnx', meta: Record<string, string> = {}): string[] {
    return runSteps(this.saveSteps(dir, fileName, meta));
  }

  /** save as steps (util/steps): it yields between tensors and every few MB of a large one. */
  *saveSteps(dir: string, fileName = 'model.onnx', meta: Record<string, string> = {}): Steps<string[]> {
    const dataName = `${fileName}_data`;
    const dataPath = path.join(dir, dataName);
    let fd: number | undefined;
    let offset = 0;
    const written = [path.join(dir, fileName)];
    try {
      const initializer = [];
      for (const t of this.initializers) {
        const base = { name: t.name, dataType: t.dataType, dims: t.dims };
        if (t.bytes.length < EXTERNAL_THRESHOLD) {
          initializer.push({ ...base, rawData: t.bytes });
          continue;
        }
        if (fd === undefined) {
          fd = fs.openSync(dataPath, 'w');
          written.push(dataPath);
        }
        const pad = (EXTERNAL_ALIGN - (offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
        if (pad) fs.writeSync(fd, new Uint8Array(pad), 0, pad, offset);
        offset += pad;
        for (let at = 0; at < t.bytes.length; at += WRITE_SLICE) {
          yield;
          writeAll(fd, t.bytes.subarray(at, at + WRITE_SLICE), offset + at);
        }
        initializer.push({
          ...base,
          dataLocation: 1,
          externalData: [
            { key: 'location', value: dataName },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(t.bytes.length) },
          ],
        });
        offset += t.bytes.length;
      }
      const model = {
        irVersion: 10,
        producerName: 'kvsteer',
        producerVersion: '1',
        opsetImport: [...this.opsets].map(([domain, version]) => ({ domain, version })),
        metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
        graph: {
          name: this.graphName,
          node: this.nodes.map((n) => ({
            opType: n.opType,
            domain: n.domain,
            name: n.name,
            input: n.inputs,
            output: n.outputs,
            attribute: Object.entries(n.attrs).map(([name, v]) => encodeAttr(name, v)),
          })),
          initializer,
          input: this.inputs.map(valueInfo),
          output: this.outputs.map(valueInfo),
        },
      };
      yield;
      const err = ModelProto.verify(model);
      if (err) throw new Error(`invalid ONNX model: ${err}`);
      yield;
      const proto = ModelProto.fromObject(model);
      yield;
      fs.writeFileSync(path.join(dir, fileName), ModelProto.encode(proto).finish());
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    return written;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`duplicate tensor name ${name}`);
    this.names.add(name);
  }

  /** A tensor name not used yet. */
  fresh(prefix: string): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`;
    while (this.names.has(n));
    this.names.add(n);
    return n;
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function bytesPerElement(t: TensorDataType): number {
  switch (t) {
    case TensorDataType.FLOAT:
    case TensorDataType.INT32:
      return 4;
    case TensorDataType.INT64:
      return 8;
    case TensorDataType.FLOAT16:
      return 2;
    default:
      return 1;
  }
}

function valueInfo(v: ValueInfo) {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.dataType,
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function encodeAttr(name: string, v: AttrValue) {
  if ('i' in v) return { name, type: AttributeType.INT, i: v.i };
  if ('f' in v) return { name, type: AttributeType.FLOAT, f: v.f };
  if ('s' in v) return { name, type: AttributeType.STRING, s: Buffer.from(v.s, 'utf8') };
  if ('ints' in v) return { name, type: AttributeType.INTS, ints: v.ints };
  return { name, type: AttributeType.FLOATS, floats: v.floats };
}
