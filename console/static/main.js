// Entry point of the console: start the shell with the plugins listed in plugins/index.js.

import { start } from "./core/app.js";
import plugins from "./plugins/index.js";

start(plugins);
