// Not in Plugin.console_modules: the server must answer 404 for this file.
export default {};
