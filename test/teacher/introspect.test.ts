import { expect } from 'chai';
import { UsageError } from '../../src/errors.js';
import { decodeModel, resolveIO, type ModelDesc } from '../../src/teacher/introspect.js';
import { buildTinyTeacher } from './fixtures.js';

const data1 = { height: 4, width: 4, channels: 1 };
const data3 = { height: 4, width: 4, channels: 3 };

function desc(inputShape: Array<number | string>, outputs: Array<[string, Array<number | string>]> = [['logits', ['batch', 3]]], dtype = 'float32'): ModelDesc {
  return {
    opset: 13,
    irVersion: 8,
    producer: 't',
    metadata: {},
    inputs: [{ name: 'x', dtype, shape: inputShape }],
    outputs: outputs.map(([name, shape]) => ({ name, dtype: 'float32', shape })),
  };
}

function usage(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(UsageError);
    expect((e as Error).message).not.to.contain('\n');
    return e as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('teacher/introspect', () => {
  it('decodes opset, metadata, inputs and outputs from the protobuf (initializers are not inputs)', () => {
    const d = decodeModel(buildTinyTeacher({ opset: 17, metadata: { a: 'b' }, layout: 'NHWC', channels: 3, fixedBatch: 8 }), 'm.onnx');
    expect(d.opset).to.equal(17);
    expect(d.metadata).to.deep.equal({ a: 'b' });
    expect(d.inputs).to.deep.equal([{ name: 'pixels', dtype: 'float32', shape: [8, 4, 4, 3] }]);
    expect(d.outputs).to.deep.equal([{ name: 'logits', dtype: 'float32', shape: [8, 3] }]);
  });

  it('decodes a float16 input and symbolic dims', () => {
    const d = decodeModel(buildTinyTeacher({ inputDtype: 'float16', symbolicSpatial: true }), 'm.onnx');
    expect(d.inputs[0]).to.deep.equal({ name: 'pixels', dtype: 'float16', shape: ['batch', 1, 'h', 'w'] });
  });

  it('BAD CALL - bytes that are not an ONNX model', () => {
    for (const bytes of [new Uint8Array(0), new TextEncoder().encode('{"hello": "world"}\n'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0, 0, 0, 13])]) {
      const e = usage(() => decodeModel(bytes, 'x.onnx'));
      expect(e.message).to.equal('not an ONNX model: x.onnx');
    }
  });

  it('layout inference: NCHW / NHWC from where the data channels sit', () => {
    expect(resolveIO(desc(['N', 1, 4, 4]), { data: data1, file: 'f' }).layout).to.equal('NCHW');
    expect(resolveIO(desc(['N', 4, 4, 1]), { data: data1, file: 'f' }).layout).to.equal('NHWC');
    expect(resolveIO(desc(['N', 3, 4, 4]), { data: data3, file: 'f' }).layout).to.equal('NCHW');
    expect(resolveIO(desc(['N', 4, 4, 3]), { data: data3, file: 'f' }).layout).to.equal('NHWC');
    // symbolic channel slot on one side only
    expect(resolveIO(desc(['N', 'c', 'h', 'w']), { data: data3, file: 'f', layoutHint: 'NHWC' }).layout).to.equal('NHWC');
    expect(resolveIO(desc(['N', 'h', 'w', 3]), { data: data3, file: 'f' }).layout).to.equal('NHWC');
    expect(resolveIO(desc(['N', 3, 'h', 'w']), { data: data3, file: 'f' }).layout).to.equal('NCHW');
  });

  it('layout override must fit the shape', () => {
    expect(resolveIO(desc(['N', 'a', 'b', 'c']), { data: data3, file: 'f', layout: 'NHWC' }).layout).to.equal('NHWC');
    const e = usage(() => resolveIO(desc(['N', 3, 4, 4]), { data: data3, file: 'f', layout: 'NHWC' }));
    expect(e.message).to.match(/read as NHWC has 4 channels, the data has 3 channel/);
  });

  it('BAD CALL - fully symbolic input needs --layout', () => {
    expect(usage(() => resolveIO(desc(['N', 'a', 'b', 'c']), { data: data3, file: 'f' })).message).to.match(/--layout/);
  });

  it('fixed batch, fixed spatial size and K are read from the shapes', () => {
    const io = resolveIO(desc([16, 4, 4, 3], [['y', [16, 7]]]), { data: data3, file: 'f' });
    expect(io).to.include({ fixedBatch: 16, numClasses: 7, outputName: 'y', layout: 'NHWC' });
    expect(io.modelSize).to.deep.equal([4, 4]);
    const dyn = resolveIO(desc(['N', 3, 'h', 'w'], [['y', ['N', 'K']]]), { data: data3, file: 'f' });
    expect(dyn.fixedBatch).to.equal(null);
    expect(dyn.modelSize).to.equal(null);
    expect(dyn.numClasses).to.equal(null);
  });

  it('picks the only 2-D output; --output chooses among several', () => {
    const two: Array<[string, Array<number | string>]> = [['feat', ['N', 1, 4, 4]], ['logits', ['N', 3]]];
    expect(resolveIO(desc(['N', 1, 4, 4], two), { data: data1, file: 'f' }).outputName).to.equal('logits');
    const amb: Array<[string, Array<number | string>]> = [['logits', ['N', 3]], ['probs', ['N', 3]]];
    expect(usage(() => resolveIO(desc(['N', 1, 4, 4], amb), { data: data1, file: 'f' })).message).to.match(/several 2-D outputs \(logits, probs\); choose the logits with --output NAME/);
    expect(resolveIO(desc(['N', 1, 4, 4], amb), { data: data1, file: 'f', output: 'probs' }).outputName).to.equal('probs');
  });

  it('BAD CALL - output not 2-D, --output naming a missing or 4-D output', () => {
    expect(usage(() => resolveIO(desc(['N', 1, 4, 4], [['y', ['N', 3, 1, 1]]]), { data: data1, file: 'f' })).message).to.match(/no 2-D output \(outputs: y \[N, 3, 1, 1\]\)/);
    expect(usage(() => resolveIO(desc(['N', 1, 4, 4]), { data: data1, file: 'f', output: 'nope' })).message).to.match(/no output named 'nope'/);
    const two: Array<[string, Array<number | string>]> = [['feat', ['N', 1, 4, 4]], ['logits', ['N', 3]]];
    expect(usage(() => resolveIO(desc(['N', 1, 4, 4], two), { data: data1, file: 'f', output: 'feat' })).message).to.match(/'feat' \[N, 1, 4, 4\] is not 2-D/);
  });

  it('BAD CALL - input rank or channels that do not fit the data, unsupported dtypes, several inputs', () => {
    expect(usage(() => resolveIO(desc(['N', 16]), { data: data1, file: 'f' })).message).to.match(/has rank 2; an image teacher takes rank 4/);
    expect(usage(() => resolveIO(desc(['N', 3, 224, 224]), { data: data1, file: 'f' })).message).to.match(/expects 3 \(NCHW\) or 224 \(NHWC\) channels, the data has 1 channel/);
    expect(usage(() => resolveIO(desc(['N', 1, 4, 4], undefined, 'uint8'), { data: data1, file: 'f' })).message).to.match(/is uint8/);
    const d = desc(['N', 1, 4, 4]);
    d.inputs.push({ name: 'y', dtype: 'float32', shape: ['N'] });
    expect(usage(() => resolveIO(d, { data: data1, file: 'f' })).message).to.match(/one image input, the model has 2/);
  });
});
