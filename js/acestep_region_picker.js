// ACE-Step v1: the time-region picker of AceStepV1RepaintRegion and AceStepV1ExtendRegion.
//
// Adds one canvas widget under the node's FLOAT widgets (start/end, left/right seconds). It draws the
// waveform of the audio the node works on — an upstream LoadAudio file, or audio an earlier run produced
// from the same latent — or a plain duration bar, and dragging on it sets the FLOAT widgets. Those stay
// the only values saved and sent to the backend; without this file the node works the same.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { findResultAudio, findSourceAudio, latentSeconds } from "./lib/graph_walk.js";
import { peaksFor } from "./common/audio_peaks.js";
import {
  LOG_PREFIX, chainMethod, findWidget, forgetOutputs, frontendOnly, graphAccess, isWidgetLinked, onOutput,
  setWidgetValue, viewUrl, warnOnce, watchOutputs,
} from "./common/comfy.js";
import { FIELDS, createRegionWidget } from "./ui/region_widget.js";

const NODES = { AceStepV1RepaintRegion: "repaint", AceStepV1ExtendRegion: "extend" };

/** What the picker of `node` should draw: the source audio's URL and name, or an estimated length. */
function sourceFor(node, mode) {
  const access = graphAccess(app, node.graph ?? app.graph);
  const self = access.node(node.id);
  if (!self) return { url: null };
  const hit = findSourceAudio(access, self) ?? (mode === "repaint" ? findResultAudio(access, self) : null);
  const estimate = latentSeconds(access, self);
  if (hit) {
    const label = hit.item.filename + (hit.kind === "result" ? " (last result)" : "");
    return { url: viewUrl(api, hit.item), label, estimate };
  }
  const connected = node.inputs?.some((i) => i.name === "latent" && i.link != null);
  return {
    url: null,
    label: connected ? (estimate != null ? "not run yet" : "no audio yet") : "latent not connected",
    estimate,
    hint: connected ? "run the workflow to see the waveform" : "connect a latent",
  };
}

function attach(node, mode) {
  if (node.__acestepRegion) return;
  const [a, b] = FIELDS[mode];
  if (!findWidget(node, a) || !findWidget(node, b) || typeof node.addCustomWidget !== "function") {
    warnOnce(`region-${mode}`, `${node.type}: widgets ${a}/${b} not found; keeping the plain widgets`);
    return;
  }
  const widget = createRegionWidget({
    mode,
    getValue: (name) => findWidget(node, name)?.value,
    setValue: (name, v) => setWidgetValue(app, node, name, v),
    isLocked: () => isWidgetLinked(node, a) && isWidgetLinked(node, b),
    source: () => sourceFor(node, mode),
    peaks: (url, onReady) => peaksFor(url, onReady),
    redraw: () => node.setDirtyCanvas?.(true, true),
    onError: (err) => warnOnce(`region-draw-${mode}`, "region picker failed; the FLOAT widgets still work:", err),
  });
  node.addCustomWidget(frontendOnly(widget));
  node.__acestepRegion = widget;
  fitNode(node);
}

/** Grows the node so the picker fits (a saved size that is larger is kept). */
function fitNode(node) {
  const min = node.computeSize?.();
  if (min && node.size && (node.size[1] < min[1] || node.size[0] < min[0])) {
    node.setSize?.([Math.max(node.size[0], min[0]), Math.max(node.size[1], min[1])]);
  }
}

app.registerExtension({
  name: "AceStepV1.RegionPicker",
  async setup() {
    watchOutputs(api);
    onOutput(() => app.graph?.setDirtyCanvas?.(true, true));
    console.log(LOG_PREFIX, "region picker loaded (repaint / extend nodes)");
  },
  async beforeConfigureGraph() {
    forgetOutputs();
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const mode = NODES[nodeData?.name];
    if (!mode) return;
    chainMethod(nodeType.prototype, "onNodeCreated", function () {
      attach(this, mode);
    });
    chainMethod(nodeType.prototype, "onConfigure", function () {
      if (this.__acestepRegion) fitNode(this);
    });
  },
});
