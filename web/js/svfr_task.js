// SVFR Task node: show the active task combination ("BFR + colorization") on the node itself, live,
// and flag the invalid empty selection before the prompt is queued.
// Served at /extensions/<pack folder>/js/svfr_task.js; ComfyUI's app module is /scripts/app.js.
import { app } from "../../../scripts/app.js";
import { svfrTaskLabel, svfrTaskValid } from "./svfr_task_label.js";

const LABEL_ROOM = 18; // px below the toggles; tests/e2e/ui_format.py sizes saved Task nodes with it

function widgetValues(node) {
  const values = {};
  for (const w of node.widgets || []) values[w.name] = !!w.value;
  return values;
}

app.registerExtension({
  name: "svfr.TaskVectorLabel",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== "SVFRTaskVector") return;
    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      onDrawForeground?.apply(this, arguments);
      if (this.flags?.collapsed) return;
      const values = widgetValues(this);
      const valid = svfrTaskValid(values);
      const text = svfrTaskLabel(values);
      ctx.save();
      ctx.font = "12px sans-serif";
      ctx.textAlign = "center";
      ctx.fillStyle = valid ? "#8fd18f" : "#ff7070";
      ctx.fillText(text, this.size[0] / 2, this.size[1] - 6);
      ctx.restore();
    };
    // room for the label line under the three toggles, in the size the frontend computes (and so keeps)
    const computeSize = nodeType.prototype.computeSize;
    nodeType.prototype.computeSize = function () {
      const size = computeSize.apply(this, arguments);
      size[1] += LABEL_ROOM;
      return size;
    };
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated?.apply(this, arguments);
      for (const w of this.widgets || []) {
        const cb = w.callback;
        w.callback = (...args) => {
          const out = cb?.apply(w, args);
          this.setDirtyCanvas(true, false);
          return out;
        };
      }
      return r;
    };
  },
});
