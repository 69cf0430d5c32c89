// Entry point of the console: start the shell with the plugins listed in plugins/index.js, then the
// console modules of enabled Python plugins (listed by the server on #app as data-plugin-modules,
// served from /console/ext/<plugin>/<file>.js). Each such module's default export is a console plugin.

import { start } from "./core/app.js";
import plugins from "./plugins/index.js";

const EXTENSION = /^\/console\/ext\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\.js$/;

async function extensionPlugins() {
  const listed = (document.getElementById("app")?.dataset.pluginModules || "").split(/\s+/).filter(Boolean);
  const loaded = [];
  for (const url of listed) {
    if (!EXTENSION.test(url)) continue; // only this server's plugin modules
    try {
      const module = await import(url);
      if (module.default) loaded.push(module.default);
    } catch (error) {
      // A broken third-party module must not take the console down with it.
      console.warn(`Console module ${url} could not be loaded:`, error);
    }
  }
  return loaded;
}

extensionPlugins().then((extensions) => {
  const ids = new Set(plugins.map((p) => p.id));
  const fresh = extensions.filter((p) => {
    if (!p || typeof p.id !== "string" || ids.has(p.id)) {
      console.warn(`Console module plugin ${p?.id} is skipped: it has no id or reuses one.`);
      return false;
    }
    ids.add(p.id);
    return true;
  });
  start([...plugins, ...fresh]);
});
