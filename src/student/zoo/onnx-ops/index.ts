/**
 * The ONNX ops an imported student can train (opsets 13–18: what torch.onnx.export writes for
 * torchvision's and timm's CNN classifiers, vision transformers — nn.MultiheadAttention's and
 * timm's attention — and ConvNeXt), by op type. Constant is handled when the graph is
 * read (onnx-graph.ts); Identity of an initializer becomes a weight there too.
 */
import { batchNormalization } from './batchnorm.js';
import { constantOfShape, equal, expand, where } from './broadcast.js';
import { mod, not, range, scatterND } from './const-ops.js';
import { dropPath } from './drop-path.js';
import { conv, globalAveragePool, globalMaxPool, pool } from './conv.js';
import { binary, clip, erf, exp, gelu, hardSigmoid, hardSwish, leakyRelu, neg, pow, reciprocal, relu, sigmoid, softmax, sqrt, tanh } from './elementwise.js';
import { cast, concat, dropout, flatten, gather, identity, matmulLike, pad, reduceMean, reshape, shape, slice, split, squeeze, transpose, unsqueeze } from './shape.js';
import { layerNormalization } from './layernorm.js';
import type { OpImpl } from './values.js';

export const OPS: Readonly<Record<string, OpImpl>> = Object.freeze({
  Conv: conv,
  BatchNormalization: batchNormalization,
  LayerNormalization: layerNormalization,
  MaxPool: pool,
  AveragePool: pool,
  GlobalAveragePool: globalAveragePool,
  GlobalMaxPool: globalMaxPool,
  Relu: relu,
  Clip: clip,
  Sigmoid: sigmoid,
  HardSigmoid: hardSigmoid,
  HardSwish: hardSwish,
  LeakyRelu: leakyRelu,
  Tanh: tanh,
  Erf: erf,
  Gelu: gelu,
  Sqrt: sqrt,
  Pow: pow,
  Neg: neg,
  Reciprocal: reciprocal,
  Exp: exp,
  Softmax: softmax,
  Add: binary,
  Sub: binary,
  Mul: binary,
  Div: binary,
  Concat: concat,
  Split: split,
  Slice: slice,
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Pad: pad,
  ReduceMean: reduceMean,
  Gemm: matmulLike,
  MatMul: matmulLike,
  Dropout: dropout,
  Identity: identity,
  Shape: shape,
  Gather: gather,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Cast: cast,
  Expand: expand,
  ConstantOfShape: constantOfShape,
  Equal: equal,
  Where: where,
  Mod: mod,
  Range: range,
  Not: not,
  ScatterND: scatterND,
  TfkdDropPath: dropPath,
});

// TfkdDropPath is tfkd's own node (onnx-fold.ts inserts it for --drop-path), not an op a file may hold.
export const SUPPORTED_OPS: ReadonlySet<string> = new Set([...Object.keys(OPS).filter((op) => op !== 'TfkdDropPath'), 'Constant']);

export type { OpImpl } from './values.js';
