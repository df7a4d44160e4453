/**
 * --layer-decay's grouping (student/optim/layer-decay.ts) against timm's own group_with_matcher
 * (copied into scripts/timm_layer_decay.py: timm is not packaged for Debian) on the weight names of
 * timm's ViT, Swin and ConvNeXt state_dicts and torchvision's vit_b_16 (its real named_parameters),
 * and on a custom matcher; the presets' auto-detection; the refusals.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { LAYER_GROUPS, layerIds, layerScales, resolveLayerGroups, type GroupMatcher } from '../../../src/student/optim/layer-decay.js';
import { UsageError } from '../../../src/errors.js';

const SCRIPTS = join(import.meta.dirname, '../../../scripts');

/** timm's layer ids (and torchvision's vit_b_16 names when asked) from scripts/timm_layer_decay.py. */
function timm(jobs: Array<{ names: string[] | `torchvision-${string}`; matcher: string | Record<string, unknown> }>): Array<{ names: string[]; ids: Record<string, number> }> {
  const code = `
import json, sys
sys.dont_write_bytecode = True
sys.path.insert(0, ${JSON.stringify(SCRIPTS)})
from timm_layer_decay import MATCHERS, layer_ids
out = []
for job in json.load(sys.stdin):
    names = job["names"]
    if isinstance(names, str):
        import torchvision
        names = [n for n, _ in getattr(torchvision.models, names[len("torchvision-"):])().named_parameters()]
    m = MATCHERS[job["matcher"]] if isinstance(job["matcher"], str) else {k: (v if isinstance(v, (str, type(None))) else [(r, tuple(s) if s is not None else None) for r, s in v]) for k, v in job["matcher"].items()}
    out.append({"names": names, "ids": layer_ids(names, m)})
print(json.dumps(out))`;
  const r = spawnSync('/usr/bin/python3', ['-c', code], { input: JSON.stringify(jobs), encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`timm_layer_decay.py: ${r.stderr}`);
  return JSON.parse(r.stdout) as Array<{ names: string[]; ids: Record<string, number> }>;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** timm VisionTransformer (depth 12) state_dict names, with fc_norm (global-pool models) and a head. */
const VIT = [
  'cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias',
  ...range(12).flatMap((b) => ['norm1.weight', 'norm1.bias', 'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias', 'norm2.weight', 'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias'].map((w) => `blocks.${b}.${w}`)),
  'norm.weight', 'norm.bias', 'fc_norm.weight', 'head.weight', 'head.bias',
];
/** timm SwinTransformer (depths 2, 2, 6, 2; downsampling at the start of stages 1–3, timm ≥ 0.9). */
const SWIN = [
  'patch_embed.proj.weight', 'patch_embed.proj.bias', 'patch_embed.norm.weight',
  ...[2, 2, 6, 2].flatMap((d, s) => [
    ...(s > 0 ? [`layers.${s}.downsample.norm.weight`, `layers.${s}.downsample.reduction.weight`] : []),
    ...range(d).flatMap((b) => ['norm1.weight', 'attn.relative_position_bias_table', 'attn.qkv.weight', 'attn.proj.weight', 'norm2.weight', 'mlp.fc1.weight', 'mlp.fc2.weight'].map((w) => `layers.${s}.blocks.${b}.${w}`)),
  ]),
  'norm.weight', 'norm.bias', 'head.fc.weight', 'head.fc.bias',
];
/** timm ConvNeXt (depths 3, 3, 9, 3). */
const CONVNEXT = [
  'stem.0.weight', 'stem.0.bias', 'stem.1.weight',
  ...[3, 3, 9, 3].flatMap((d, s) => [
    ...(s > 0 ? [`stages.${s}.downsample.0.weight`, `stages.${s}.downsample.1.weight`] : []),
    ...range(d).flatMap((b) => ['gamma', 'conv_dw.weight', 'norm.weight', 'mlp.fc1.weight', 'mlp.fc2.weight'].map((w) => `stages.${s}.blocks.${b}.${w}`)),
  ]),
  'head.norm.weight', 'head.fc.weight', 'head.fc.bias',
];
const CUSTOM = { stem: '^conv1', blocks: [['^layer(\\d+)\\.(\\d+)', null], ['^bn_final', [99999]]], neck: null };
const RESNETISH = ['conv1.weight', 'bn1.weight', ...range(4).flatMap((l) => range(2).map((b) => `layer${l + 1}.${b}.conv1.weight`)), 'bn_final.weight', 'fc.weight', 'fc.bias'];

describe('student/optim/layer-decay: timm\'s layer-wise lr decay grouping', () => {
  const jobs = [
    { names: VIT, matcher: 'vit' },
    { names: SWIN, matcher: 'swin' },
    { names: CONVNEXT, matcher: 'convnext' },
    { names: 'torchvision-vit_b_16' as const, matcher: 'torchvision-vit' },
    { names: RESNETISH, matcher: CUSTOM },
    { names: 'torchvision-convnext_tiny' as const, matcher: 'torchvision-convnext' },
    { names: 'torchvision-swin_t' as const, matcher: 'torchvision-swin' },
    { names: 'torchvision-efficientnet_b0' as const, matcher: 'torchvision-swin' },
  ];
  let ref: ReturnType<typeof timm>;
  before(function () {
    this.timeout(60000);
    ref = timm(jobs);
  });

  it('every preset and a custom matcher: the layer of every weight is timm\'s group_with_matcher\'s', () => {
    jobs.slice(0, 7).forEach((job, k) => {
      const matcher = typeof job.matcher === 'string' ? LAYER_GROUPS[job.matcher] : resolveLayerGroups(JSON.stringify(job.matcher), ref[k].names).matcher;
      const ours = Object.fromEntries(layerIds(ref[k].names, matcher));
      expect(ours, String(job.matcher)).to.deep.equal(ref[k].ids);
      console.log(`      ${typeof job.matcher === 'string' ? job.matcher : 'custom'}: ${ref[k].names.length} weights in ${new Set(Object.values(ours)).size} layers`);
    });
    // ViT-B/16-like depth 12: stem, 12 blocks (the final norm with the last), the head.
    expect(new Set(Object.values(ref[0].ids)).size).to.equal(14);
  });

  it('scales: lr · d^(L − 1 − layer), the head at 1', () => {
    const { scale, layers, id } = layerScales(VIT, 0.75, LAYER_GROUPS.vit);
    expect(layers).to.equal(14);
    expect(scale.get('head.weight')).to.equal(1);
    expect(scale.get('norm.weight')).to.equal(0.75);
    expect(scale.get('blocks.11.attn.qkv.weight')).to.equal(0.75);
    expect(scale.get('blocks.0.attn.qkv.weight')).to.equal(0.75 ** 12);
    expect(scale.get('cls_token')).to.equal(0.75 ** 13);
    expect(id.get('pos_embed')).to.equal(0);
  });

  it('auto-detects the preset that fits; refuses names no preset fits, bad JSON and a regex that matches nothing', () => {
    const fails = (f: () => unknown, re: RegExp) => {
      let err: unknown = null;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, String(re)).to.be.instanceOf(UsageError);
      expect((err as Error).message).to.match(re);
    };
    expect(resolveLayerGroups(undefined, VIT).name).to.equal('vit');
    expect(resolveLayerGroups(undefined, SWIN).name).to.equal('swin');
    expect(resolveLayerGroups(undefined, CONVNEXT).name).to.equal('convnext');
    expect(resolveLayerGroups(undefined, ref[3].names).name).to.equal('torchvision-vit');
    expect(resolveLayerGroups(undefined, ref[5].names).name).to.equal('torchvision-convnext');
    expect(resolveLayerGroups(undefined, ref[6].names).name).to.equal('torchvision-swin');
    // Another model of `features` stages is no Swin: no preset fits (give the matcher).
    fails(() => resolveLayerGroups(undefined, ref[7].names), /no layer grouping .* fits/);
    fails(() => resolveLayerGroups(undefined, RESNETISH), /no layer grouping of vit, swin, convnext, torchvision-vit, torchvision-convnext, torchvision-swin fits/);
    fails(() => resolveLayerGroups('{"stem": "^nothing"}', VIT), /a regex matches no weight/);
    fails(() => resolveLayerGroups('{"stem": "^(unclosed"}', VIT), /group "stem"/);
    fails(() => resolveLayerGroups('vit-huge', VIT), /neither a preset .* nor JSON/);
    fails(() => resolveLayerGroups('{"blocks": [["^blocks", "x"]]}', VIT), /a suffix is null or a list of numbers/);
    const m: GroupMatcher = resolveLayerGroups(JSON.stringify(CUSTOM), RESNETISH).matcher;
    expect(m.map(([g]) => g)).to.deep.equal(['stem', 'blocks', 'neck']);
  });
});
