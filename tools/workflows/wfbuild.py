"""A small builder for ComfyUI UI-format workflows (schema 0.4, as frontend 1.27 saves them).

Node inputs, outputs and widget order come from a live `/object_info` dump, so a draft built here
has exactly the sockets and `widgets_values` layout the frontend creates for each node:
socket-only inputs first, then one input per widget (both in `input_order`), widget values in
declaration order with the frontend's extra values (the control_after_generate combo after a seed,
the audio player / upload slots of LoadAudio).

`export_via_frontend.py` then loads each draft into the real frontend and writes back what
`app.graph.serialize()` returns, which is what "Save" and "Export" write.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
FRONTEND_ONLY = {"MarkdownNote", "Note"}
NOTE_COLOR, NOTE_BGCOLOR = "#432", "#653"


def _specs(info: dict):
    """(name, type, options, optional?) of a node's inputs in `input_order`."""
    inputs = info.get("input") or {}
    order = info.get("input_order") or {s: list((inputs.get(s) or {}).keys()) for s in ("required", "optional")}
    for section in ("required", "optional"):
        for name in order.get(section) or []:
            spec = (inputs.get(section) or {}).get(name)
            if spec is None:
                continue
            t = spec[0]
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if isinstance(t, list):
                opts = {**opts, "options": t}
                t = "COMBO"
            yield name, t, opts, section == "optional"


def _is_widget(t: str, opts: dict) -> bool:
    return t in WIDGET_TYPES and not opts.get("forceInput")


@dataclass
class Node:
    id: int
    type: str
    pos: tuple[float, float]
    size: tuple[float, float]
    widgets: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    color: str | None = None
    bgcolor: str | None = None
    mode: int = 0
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    widgets_values: list = field(default_factory=list)
    properties: dict = field(default_factory=dict)


class Workflow:
    def __init__(self, object_info: dict, pack_id: str, pack_version: str, core_version: str):
        self.oi = object_info
        self.pack_id, self.pack_version, self.core_version = pack_id, pack_version, core_version
        self.nodes: list[Node] = []
        self.links: list[list] = []
        self.groups: list[dict] = []
        # other custom node packs a workflow uses: python_module ("custom_nodes.<folder>") -> (cnr_id, version)
        self.other_packs: dict[str, tuple[str, str]] = {}

    # ---------------------------------------------------------------------------------- nodes
    def add(self, node_type: str, pos, size, *, title: str | None = None, control: str | None = None,
            **widgets) -> Node:
        """A node with its widget values (missing ones take the declared default)."""
        if node_type not in self.oi:
            raise KeyError(f"{node_type} is not in object_info")
        info = self.oi[node_type]
        node = Node(len(self.nodes) + 1, node_type, tuple(pos), tuple(size), dict(widgets), title)
        known = {name for name, *_ in _specs(info)}
        unknown = set(widgets) - known
        if unknown:
            raise KeyError(f"{node_type}: no inputs named {sorted(unknown)}")
        sockets, widget_inputs, values = [], [], []
        for name, t, opts, optional in _specs(info):
            if _is_widget(t, opts):
                entry = {"name": name, "type": t, "widget": {"name": name}, "link": None}
                if optional:
                    entry["shape"] = 7
                widget_inputs.append(entry)
                value = widgets.get(name, opts.get("default", (opts.get("options") or [None])[0]))
                if value is None and t == "STRING":
                    value = ""
                if t == "FLOAT" and isinstance(value, int):
                    value = float(value)
                values.append(value)
                if opts.get("control_after_generate") or (t == "INT" and name in ("seed", "noise_seed")):
                    values.append(control or "fixed")
                if opts.get("audio_upload"):
                    values += [None, ""]  # the player (not serialized) and the upload button
            else:
                entry = {"name": name, "type": t, "link": None}
                if optional:
                    entry["shape"] = 7
                sockets.append(entry)
        node.inputs = sockets + widget_inputs
        names = info.get("output_name") or info.get("output") or []
        node.outputs = [{"name": names[i] if i < len(names) else t, "type": t if isinstance(t, str) else "COMBO",
                         "links": []} for i, t in enumerate(info.get("output") or [])]
        node.widgets_values = values
        module = info.get("python_module", "")
        if module in self.other_packs:
            cnr, ver = self.other_packs[module]
        else:
            cnr = self.pack_id if module.startswith("custom_nodes.") else "comfy-core"
            ver = self.pack_version if cnr == self.pack_id else self.core_version
        node.properties = {"Node name for S&R": node_type, "cnr_id": cnr, "ver": ver}
        self.nodes.append(node)
        return node

    def note(self, pos, size, title: str, markdown: str) -> Node:
        node = Node(len(self.nodes) + 1, "MarkdownNote", tuple(pos), tuple(size), title=title,
                    color=NOTE_COLOR, bgcolor=NOTE_BGCOLOR)
        node.widgets_values = [markdown.strip() + "\n"]
        self.nodes.append(node)
        return node

    def group(self, title: str, bounding, color: str = "#3f789e") -> None:
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": list(bounding),
                            "color": color, "font_size": 24, "flags": {}})

    # ---------------------------------------------------------------------------------- links
    def link(self, src: Node, output: str | int, dst: Node, input_name: str) -> int:
        o_slot = output if isinstance(output, int) else next(
            (i for i, o in enumerate(src.outputs) if o["name"] == output), None)
        if o_slot is None or o_slot >= len(src.outputs):
            raise KeyError(f"{src.type} has no output {output!r} ({[o['name'] for o in src.outputs]})")
        t_slot = next((i for i, inp in enumerate(dst.inputs) if inp["name"] == input_name), None)
        if t_slot is None:
            raise KeyError(f"{dst.type} has no input {input_name!r}")
        if dst.inputs[t_slot]["link"] is not None:
            raise ValueError(f"{dst.type}.{input_name} is already connected")
        link_id = len(self.links) + 1
        link_type = src.outputs[o_slot]["type"]
        self.links.append([link_id, src.id, o_slot, dst.id, t_slot, link_type])
        src.outputs[o_slot]["links"].append(link_id)
        dst.inputs[t_slot]["link"] = link_id
        return link_id

    # ---------------------------------------------------------------------------------- output
    def _order(self) -> dict[int, int]:
        """Execution order as litegraph computes it (sources first), for the `order` field."""
        deps = {n.id: set() for n in self.nodes}
        for _lid, src, _os, dst, _ts, _t in self.links:
            deps[dst].add(src)
        order, done = {}, set()
        while len(done) < len(self.nodes):
            ready = sorted(n for n in deps if n not in done and deps[n] <= done)
            if not ready:
                raise ValueError("the workflow has a cycle")
            for n in ready:
                order[n] = len(order)
                done.add(n)
        return order

    def to_json(self, name: str, frontend_version: str) -> dict:
        order = self._order()
        nodes = []
        for n in self.nodes:
            d: dict[str, Any] = {"id": n.id, "type": n.type, "pos": list(n.pos), "size": list(n.size),
                                 "flags": {}, "order": order[n.id], "mode": n.mode}
            if n.type not in FRONTEND_ONLY:
                d["inputs"] = n.inputs
                d["outputs"] = n.outputs
            else:
                d["inputs"], d["outputs"] = [], []
            if n.title:
                d["title"] = n.title
            d["properties"] = n.properties
            d["widgets_values"] = n.widgets_values
            if n.color:
                d["color"], d["bgcolor"] = n.color, n.bgcolor
            nodes.append(d)
        xs = [n.pos[0] for n in self.nodes] or [0]
        ys = [n.pos[1] for n in self.nodes] or [0]
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://github.com/acestep-v1/acestep-v1/workflows/{name}")),
            "revision": 0,
            "last_node_id": len(self.nodes),
            "last_link_id": len(self.links),
            "nodes": nodes,
            "links": self.links,
            "groups": self.groups,
            "config": {},
            "extra": {"ds": {"scale": 0.75, "offset": [40 - min(xs), 60 - min(ys)]},
                      "frontendVersion": frontend_version},
            "version": 0.4,
        }


def dump(wf: dict) -> str:
    return json.dumps(wf, indent=2, ensure_ascii=False) + "\n"
