"""timm's layer-wise lr decay grouping, for the references of tfkd's --layer-decay
(src/student/optim/layer-decay.ts). timm is not packaged for Debian, so its two functions are
copied here as they are in timm 0.9 (models/_manipulate.py group_with_matcher, optim/optim_factory.py
param_groups_layer_decay's scale rule; Apache License 2.0, Ross Wightman), with the group matchers
of its model families (each model's group_matcher(coarse=False)).

    layer_ids(names, matcher)             -> {name: layer id}       (group_with_matcher, reverse=True)
    layer_scales(names, decay, matcher)   -> {name: decay ** (layer_max - id)}
"""
import collections.abc
import re
from collections import defaultdict
from itertools import chain

MATCH_PREV_GROUP = (99999,)

# timm's group_matcher(coarse=False) of VisionTransformer, SwinTransformer and ConvNeXt, and the
# same rule on torchvision's ViT, ConvNeXt and Swin names (src/student/optim/layer-decay.ts).
MATCHERS = {
    'vit': dict(stem=r'^cls_token|pos_embed|patch_embed', blocks=[(r'^blocks\.(\d+)', None), (r'^norm', (99999,))]),
    'swin': dict(stem=r'^patch_embed', blocks=[(r'^layers\.(\d+).downsample', (0,)), (r'^layers\.(\d+)\.\w+\.(\d+)', None), (r'^norm', (99999,))]),
    'convnext': dict(stem=r'^stem', blocks=[(r'^stages\.(\d+)\.downsample', (0,)), (r'^stages\.(\d+)\.blocks\.(\d+)', None), (r'^norm_pre', (99999,))]),
    'torchvision-vit': dict(stem=r'^class_token|conv_proj|encoder\.pos_embedding',
                            blocks=[(r'^encoder\.layers\.encoder_layer_(\d+)', None), (r'^encoder\.ln', (99999,))]),
    'torchvision-convnext': dict(stem=r'^features\.0\.',
                                 blocks=[(r'^features\.(\d+)\.(\d+)\.layer_scale', None), (r'^features\.(\d+)\.(\d+)\.block', None),
                                         (r'^features\.(\d+)\.\d+\.(?:weight|bias)', None)]),
    'torchvision-swin': dict(stem=r'^features\.0\.',
                             blocks=[(r'^features\.(\d+)\.(\d+)\.', None), (r'^features\.(\d+)\.(?:reduction|norm)\.', None), (r'^norm', (99999,))]),
}


def group_with_matcher(named_objects, group_matcher, return_values=False, reverse=False):
    # timm 0.9, models/_manipulate.py, verbatim
    if isinstance(group_matcher, dict):
        # dictionary matcher contains a dict of raw-string regex expr that must be compiled
        compiled = []
        for group_ordinal, (group_name, mspec) in enumerate(group_matcher.items()):
            if mspec is None:
                continue
            # map all matching specifications into 3-tuple (compiled re, prefix, suffix)
            if isinstance(mspec, (tuple, list)):
                # multi-entry match specifications require each sub-spec to be a 2-tuple (re, suffix)
                for sspec in mspec:
                    compiled += [(re.compile(sspec[0]), (group_ordinal,), sspec[1])]
            else:
                compiled += [(re.compile(mspec), (group_ordinal,), None)]
        group_matcher = compiled

    def _get_grouping(name):
        if isinstance(group_matcher, (list, tuple)):
            for match_fn, prefix, suffix in group_matcher:
                r = match_fn.match(name)
                if r:
                    parts = (prefix, r.groups(), suffix)
                    # map all tuple elem to int for numeric sort, filter out None entries
                    return tuple(map(float, chain.from_iterable(filter(None, parts))))
            return float('inf'),  # un-matched layers (neck, head) mapped to largest ordinal
        else:
            ord = group_matcher(name)
            if not isinstance(ord, collections.abc.Iterable):
                return ord,
            return tuple(ord)

    # map layers into groups via ordinals (ints or tuples of ints) from matcher
    grouping = defaultdict(list)
    for k, v in named_objects:
        grouping[_get_grouping(k)].append(v if return_values else k)

    # remap to integers
    layer_id_to_param = defaultdict(list)
    lid = -1
    for k in sorted(filter(lambda x: x is not None, grouping.keys())):
        if lid < 0 or k[-1] != MATCH_PREV_GROUP[0]:
            lid += 1
        layer_id_to_param[lid].extend(grouping[k])

    if reverse:
        assert not return_values, "reverse mapping only sensible for name output"
        # output reverse mapping
        param_to_layer_id = {}
        for lid, lm in layer_id_to_param.items():
            for n in lm:
                param_to_layer_id[n] = lid
        return param_to_layer_id

    return layer_id_to_param


def layer_ids(names, matcher):
    return group_with_matcher(((n, None) for n in names), matcher, reverse=True)


def layer_scales(names, decay, matcher):
    """param_groups_layer_decay's rule: num_layers = max id + 1, scale = decay ** (layer_max - id)."""
    layer_map = layer_ids(names, matcher)
    layer_max = max(layer_map.values())
    scales = list(decay ** (layer_max - i) for i in range(layer_max + 1))
    return {n: scales[layer_map.get(n, layer_max)] for n in names}
