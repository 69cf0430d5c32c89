// Translations and formatting. Catalogues are keyed by the API's Language enum (EN, DE, ES, SV);
// core and every plugin add theirs with addMessages(). Numbers and dates use Intl for the language.

export const LANGUAGES = ["EN", "DE", "ES", "SV"];

/** Each language's name in itself, the usual way to offer a language choice. */
export const LANGUAGE_NAMES = { EN: "English", DE: "Deutsch", ES: "Español", SV: "Svenska" };

const LOCALES = { EN: "en-GB", DE: "de-DE", ES: "es-ES", SV: "sv-SE" };
const STORAGE_KEY = "kms.language";
const catalogues = Object.fromEntries(LANGUAGES.map((lang) => [lang, {}]));
const listeners = new Set();
let current = "EN";

/** Merge a catalogue: { EN: { key: "text" }, DE: {...}, ES: {...}, SV: {...} }. */
export function addMessages(messages) {
  for (const [lang, entries] of Object.entries(messages)) {
    if (!catalogues[lang]) throw new Error(`Unknown language ${lang} in a message catalogue`);
    Object.assign(catalogues[lang], entries);
  }
}

/** Translate a key; {name} placeholders are filled from params. Falls back to English, then the key. */
export function t(key, params = {}) {
  const text = catalogues[current][key] ?? catalogues.EN[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

/** Translate with a count: picks "<key>.one" or "<key>.other" by the language's plural rules. */
export function tn(key, count, params = {}) {
  const form = new Intl.PluralRules(locale()).select(count) === "one" ? "one" : "other";
  return t(`${key}.${form}`, { count: formatNumber(count), ...params });
}

export function language() {
  return current;
}

export function locale() {
  return LOCALES[current];
}

export function setLanguage(lang) {
  const next = LANGUAGES.includes(lang) ? lang : "EN";
  const changed = next !== current;
  current = next;
  document.documentElement.lang = LOCALES[current].slice(0, 2);
  try {
    localStorage.setItem(STORAGE_KEY, current);
  } catch {
    // storage may be disabled; the language then follows the account after login
  }
  if (changed) listeners.forEach((listener) => listener(current));
}

export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Before login: the last language used in this browser, else the browser's preference, else English. */
export function initialLanguage() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (LANGUAGES.includes(stored)) return stored;
  } catch {
    // ignore
  }
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const lang = tag.slice(0, 2).toUpperCase();
    if (LANGUAGES.includes(lang)) return lang;
  }
  return "EN";
}

export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(locale(), options).format(value);
}

export function formatDate(value) {
  if (!value) return "–";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium" }).format(new Date(value));
}

export function formatDateTime(value) {
  if (!value) return "–";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(value));
}

/** Keys that some language lacks (or has without English): "DE: users.title". Empty when complete. */
export function missingTranslations() {
  const all = new Set(LANGUAGES.flatMap((lang) => Object.keys(catalogues[lang])));
  const missing = [];
  for (const lang of LANGUAGES) {
    for (const key of all) {
      const text = catalogues[lang][key];
      if (typeof text !== "string" || !text.trim()) missing.push(`${lang}: ${key}`);
    }
  }
  return missing;
}

/** Number of keys per language, for tests and diagnostics. */
export function catalogueSizes() {
  return Object.fromEntries(LANGUAGES.map((lang) => [lang, Object.keys(catalogues[lang]).length]));
}
