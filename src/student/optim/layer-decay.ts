import { UsageError, optionName } from '../../errors.js';

/**
 * timm's layer-wise learning-rate decay (BEiT's recipe, used to fine-tune ViT, DeiT, Swin and
 * ConvNeXt): timm's `param_groups_layer_decay` (optim/_param_groups.py) with the model's
 * `group_matcher(coarse=False)` through `group_with_matcher(…, reverse=True)`
 * (models/_manipulate.py). Every weight gets a layer id:
 *   - the matcher is an ordered list of groups (stem, blocks, …); group g's specs are regexes
 *     matched at the start of the weight's name (Python's re.match), each with a suffix;
 *   - a name's key is (g, its regex's capture groups as numbers, the suffix) for the first spec that
 *     matches, (∞) when none does (the head and necks: the last layer);
 *   - keys sorted as tuples of numbers; the layer id counts up from 0 at each new key, except that a
 *     key ending in 99999 (timm's MATCH_PREV_GROUP, e.g. the final norm) joins the previous id.
 * With L = 1 + the largest id, weight w's learning rate is lr · d^(L − 1 − id(w)): the head learns at
 * lr, each layer below at d times the one above. timm's scheduler scales every group's lr by its
 * `lr_scale` at every step, which is what the optimizers here do per weight (optim/sgd.ts, adam.ts).
 */

/** A group's specs: one regex, or [regex, suffix] pairs (suffix null, or numbers appended to the key). */
type GroupSpec = string | ReadonlyArray<readonly [string, readonly number[] | null]>;

/** A timm group matcher: groups in order (their ordinal is the key's first number). */
export type GroupMatcher = ReadonlyArray<readonly [string, GroupSpec | null]>;

const MATCH_PREV_GROUP = 99999;

/**
 * timm's matchers (coarse=False) for its model families, by the weight names of their state_dicts —
 * the names an ONNX export keeps as initializer names — and torchvision's ViT under the same rule.
 */
export const LAYER_GROUPS: Readonly<Record<string, GroupMatcher>> = {
  // timm VisionTransformer (ViT, DeiT), vision_transformer.py
  vit: [
    ['stem', '^cls_token|pos_embed|patch_embed'],
    ['blocks', [['^blocks\\.(\\d+)', null], ['^norm', [MATCH_PREV_GROUP]]]],
  ],
  // timm SwinTransformer, swin_transformer.py
  swin: [
    ['stem', '^patch_embed'],
    ['blocks', [['^layers\\.(\\d+).downsample', [0]], ['^layers\\.(\\d+)\\.\\w+\\.(\\d+)', null], ['^norm', [MATCH_PREV_GROUP]]]],
  ],
  // timm ConvNeXt, convnext.py
  convnext: [
    ['stem', '^stem'],
    ['blocks', [['^stages\\.(\\d+)\\.downsample', [0]], ['^stages\\.(\\d+)\\.blocks\\.(\\d+)', null], ['^norm_pre', [MATCH_PREV_GROUP]]]],
  ],
  // torchvision VisionTransformer (vit_b_16 …): timm's ViT rule on its names
  'torchvision-vit': [
    ['stem', '^class_token|conv_proj|encoder\\.pos_embedding'],
    ['blocks', [['^encoder\\.layers\\.encoder_layer_(\\d+)', null], ['^encoder\\.ln', [MATCH_PREV_GROUP]]]],
  ],
  // torchvision ConvNeXt (convnext_tiny …): features.0 the stem, one layer per CNBlock
  // (features.S.B.layer_scale and .block: layer_scale is what tells ConvNeXt from other `features`
  // models), each downsampling (features.S.0, features.S.1) one layer
  'torchvision-convnext': [
    ['stem', '^features\\.0\\.'],
    ['blocks', [['^features\\.(\\d+)\\.(\\d+)\\.layer_scale', null], ['^features\\.(\\d+)\\.(\\d+)\\.block', null], ['^features\\.(\\d+)\\.\\d+\\.(?:weight|bias)', null]]],
  ],
  // torchvision Swin (swin_t …): features.0 the patch embedding, one layer per block
  // (features.S.B), each patch merging (features.S.reduction / norm) one layer, the final norm with the last block
  'torchvision-swin': [
    ['stem', '^features\\.0\\.'],
    ['blocks', [['^features\\.(\\d+)\\.(\\d+)\\.', null], ['^features\\.(\\d+)\\.(?:reduction|norm)\\.', null], ['^norm', [MATCH_PREV_GROUP]]]],
  ],
};

/** Python's tuple order on keys of numbers (a proper prefix first). */
function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length - b.length;
}

/** group_with_matcher(names, matcher, reverse=True): the layer id of every name (module comment). */
export function layerIds(names: readonly string[], matcher: GroupMatcher): Map<string, number> {
  const compiled: Array<{ re: RegExp; prefix: number; suffix: readonly number[] | null }> = [];
  matcher.forEach(([, spec], ordinal) => {
    if (spec === null) return;
    // The sticky flag anchors every alternative at 0, as Python's re.match does.
    if (typeof spec === 'string') compiled.push({ re: new RegExp(spec, 'y'), prefix: ordinal, suffix: null });
    else for (const [re, suffix] of spec) compiled.push({ re: new RegExp(re, 'y'), prefix: ordinal, suffix });
  });
  const keyOf = (name: string): number[] => {
    for (const c of compiled) {
      c.re.lastIndex = 0;
      const m = c.re.exec(name);
      if (m) return [c.prefix, ...m.slice(1).filter((g) => g !== undefined).map(Number), ...(c.suffix ?? [])];
    }
    return [Infinity];
  };
  const groups = new Map<string, { key: number[]; names: string[] }>();
  for (const n of names) {
    const key = keyOf(n);
    const id = key.join(',');
    if (!groups.has(id)) groups.set(id, { key, names: [] });
    groups.get(id)!.names.push(n);
  }
  const out = new Map<string, number>();
  let lid = -1;
  for (const g of [...groups.values()].sort((a, b) => compareKeys(a.key, b.key))) {
    if (lid < 0 || g.key[g.key.length - 1] !== MATCH_PREV_GROUP) lid++;
    for (const n of g.names) out.set(n, lid);
  }
  return out;
}

/** The learning-rate scale of every name: d^(L − 1 − id), with its layer id and the layer count L. */
export function layerScales(names: readonly string[], decay: number, matcher: GroupMatcher): { scale: Map<string, number>; id: Map<string, number>; layers: number } {
  const id = layerIds(names, matcher);
  const layers = Math.max(...id.values()) + 1;
  const scale = new Map([...id].map(([n, i]) => [n, decay ** (layers - 1 - i)]));
  return { scale, id, layers };
}

/**
 * `--layer-groups`: a preset's name (LAYER_GROUPS) or a timm matcher as JSON,
 * `{"stem": "^patch_embed", "blocks": [["^blocks\\.(\\d+)", null], ["^norm", [99999]]]}` (key order
 * is group order). Absent: the first preset every regex of which (but a final norm's) matches some weight.
 */
export function resolveLayerGroups(spec: string | undefined, names: readonly string[]): { name: string; matcher: GroupMatcher } {
  const flag = optionName('layerGroups');
  if (spec === undefined) {
    for (const [name, m] of Object.entries(LAYER_GROUPS)) if (coversAll(m, names)) return { name, matcher: m };
    throw new UsageError(
      `${optionName('layerDecay')}: no layer grouping of ${Object.keys(LAYER_GROUPS).join(', ')} fits the model's weights (named like ${names.slice(0, 3).join(', ')}, …)`,
      `give ${flag} as timm's group matcher in JSON, e.g. '{"stem": "^patch_embed", "blocks": [["^blocks\\\\.(\\\\d+)", null]]}'`,
    );
  }
  if (spec in LAYER_GROUPS) return { name: spec, matcher: LAYER_GROUPS[spec] };
  let raw: unknown;
  try {
    raw = JSON.parse(spec);
  } catch {
    throw new UsageError(`${flag} ${spec}: neither a preset (${Object.keys(LAYER_GROUPS).join(', ')}) nor JSON`);
  }
  const matcher = matcherOf(raw, spec);
  if (!coversAll(matcher, names)) throw new UsageError(`${flag} ${spec}: a regex matches no weight of the model (named like ${names.slice(0, 3).join(', ')}, …)`);
  return { name: 'custom', matcher };
}

/**
 * Every regex of the matcher matches some name, except those that join the previous layer (a final
 * norm, which some models lack): one that matches nothing is a misspelling, or another family's
 * preset (torchvision-swin's patch merging picks Swin out of other `features` models).
 */
function coversAll(m: GroupMatcher, names: readonly string[]): boolean {
  return m.every(([, spec]) => {
    if (spec === null) return true;
    const res = typeof spec === 'string' ? [spec] : spec.filter(([, s]) => s === null || s[s.length - 1] !== MATCH_PREV_GROUP).map(([r]) => r);
    return res.every((r) => names.some((n) => new RegExp(r, 'y').test(n)));
  });
}

function matcherOf(raw: unknown, spec: string): GroupMatcher {
  const bad = (why: string) => new UsageError(`${optionName('layerGroups')} ${spec}: ${why}`, 'timm\'s form: {"group": "regex" | [["regex", null | [numbers]], …], …}');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('not a JSON object');
  const out: Array<[string, GroupSpec | null]> = [];
  for (const [g, v] of Object.entries(raw)) {
    const check = (re: unknown) => {
      if (typeof re !== 'string') throw bad(`group "${g}": a regex must be a string`);
      try {
        new RegExp(re, 'y');
      } catch (e) {
        throw bad(`group "${g}": ${(e as Error).message}`);
      }
      return re;
    };
    if (v === null) out.push([g, null]);
    else if (typeof v === 'string') out.push([g, check(v)]);
    else if (Array.isArray(v)) {
      out.push([
        g,
        v.map((s) => {
          if (!Array.isArray(s) || s.length !== 2) throw bad(`group "${g}": each spec is [regex, null | [numbers]]`);
          const suffix = s[1] as unknown;
          if (suffix !== null && !(Array.isArray(suffix) && suffix.every((x) => typeof x === 'number' && Number.isFinite(x)))) throw bad(`group "${g}": a suffix is null or a list of numbers`);
          return [check(s[0]), suffix as number[] | null] as const;
        }),
      ]);
    } else throw bad(`group "${g}": a regex, a list of [regex, suffix] or null`);
  }
  if (out.length === 0) throw bad('no groups');
  return out;
}
