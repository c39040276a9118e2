// SVFR Task node: show the active task combination ("BFR + colorization") on the node itself, live,
// and flag the invalid empty selection before the prompt is queued.
import { app } from "../../scripts/app.js";
import { svfrTaskLabel, svfrTaskValid } from "./svfr_task_label.js";

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
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated?.apply(this, arguments);
      // room for the label line under the three toggles
      this.setSize([Math.max(this.size[0], 220), this.size[1] + 18]);
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
