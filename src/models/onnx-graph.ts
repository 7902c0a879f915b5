/**
 * Minimal ONNX graph writer over `onnx-proto` (protobuf types only). Used by the aesthetic-head
 * builder and by tests that build tiny models with the same signatures as the real exports.
 * onnx-proto is imported lazily so nothing on the scoring path depends on it.
 */
import { createRequire } from 'node:module';

export type Elem = 'float32' | 'int64';
export interface TensorInit {
  name: string;
  dims: number[];
  data: Float32Array | number[] | bigint[];
  type?: Elem;
}
export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Integers are INT attributes, arrays INTS; `{ float: x }` forces FLOAT (e.g. alpha 1.0). */
  attrs?: Record<string, number | number[] | { float: number }>;
}
export interface IoSpec {
  name: string;
  type: Elem;
  /** numbers are fixed sizes, strings symbolic (e.g. 'batch'). */
  shape: (number | string)[];
}
export interface GraphSpec {
  name: string;
  inputs: IoSpec[];
  outputs: IoSpec[];
  initializers: TensorInit[];
  nodes: NodeSpec[];
  opset?: number;
}

const FLOAT = 1;
const INT64 = 7;

/** Encode a graph as ONNX model bytes (IR 7, opset 13 by default). */
export function encodeModel(g: GraphSpec): Uint8Array {
  const require = createRequire(import.meta.url);
  const { onnx } = require('onnx-proto') as typeof import('onnx-proto');
  const vi = (io: IoSpec) =>
    onnx.ValueInfoProto.create({
      name: io.name,
      type: {
        tensorType: {
          elemType: io.type === 'int64' ? INT64 : FLOAT,
          shape: { dim: io.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
  const init = (t: TensorInit) => {
    const type = t.type ?? 'float32';
    if (type === 'int64')
      return onnx.TensorProto.create({
        name: t.name,
        dims: t.dims,
        dataType: INT64,
        int64Data: (t.data as (number | bigint)[]).map((v) => Number(v)),
      });
    const f = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as number[]);
    return onnx.TensorProto.create({
      name: t.name,
      dims: t.dims,
      dataType: FLOAT,
      rawData: new Uint8Array(f.buffer, f.byteOffset, f.byteLength),
    });
  };
  const node = (n: NodeSpec, i: number) =>
    onnx.NodeProto.create({
      name: `${n.op}_${i}`,
      opType: n.op,
      input: n.inputs,
      output: n.outputs,
      attribute: Object.entries(n.attrs ?? {}).map(([name, v]) =>
        Array.isArray(v)
          ? { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
          : typeof v === 'object'
            ? { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v.float }
            : Number.isInteger(v)
            ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v }
            : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v },
      ),
    });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'loop',
    opsetImport: [{ domain: '', version: g.opset ?? 13 }],
    graph: {
      name: g.name,
      input: g.inputs.map(vi),
      output: g.outputs.map(vi),
      initializer: g.initializers.map(init),
      node: g.nodes.map(node),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
