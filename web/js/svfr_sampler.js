// SVFR Sampler and Restore Video: a newly added node's seed control starts at "fixed". ComfyUI 0.3.75 (frontend 1.32) can
// only ask for a control widget, which starts at "randomize"; newer ComfyUI publishes "fixed" itself.
// onNodeCreated runs before a loaded workflow's widget values are applied, so saved graphs keep theirs.
import { app } from "../../../scripts/app.js";
import { fixSeedControl } from "./svfr_seed_control.js";

app.registerExtension({
  name: "svfr.SamplerSeedFixed",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!["SVFRSampler", "SVFRVideoRestore"].includes(nodeData.name)) return;
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated?.apply(this, arguments);
      fixSeedControl(this);
      return r;
    };
  },
});
