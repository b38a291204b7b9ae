// Loaded on every signed-in page (base.html): wipes the offline cache at logout (offline-cache.js
// hooks the logout form), and sends circulation events that still wait on this phone, e.g.
// after she signs in again once her login had expired.
import "./offline-cache.js";
import { createOutbox } from "./outbox.js";

if (navigator.onLine) createOutbox().syncIfPending();
