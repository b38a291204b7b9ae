// One IndexedDB object store in a database of its own (the offline caches of the scan screen
// and of the kiosk), opened once per page and closed when another tab upgrades the database.
//
//   const idb = objectStore("library-offline-cache", "snapshot")
//   await idb("readonly", (store) => store.get(key))   -> the request's result, once its
//   await idb("readwrite", (store) => store.clear())       transaction has completed

export function objectStore(dbName, storeName) {
  let dbPromise = null;
  function open() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const request = indexedDB.open(dbName, 1);
        request.onupgradeneeded = () => request.result.createObjectStore(storeName);
        request.onsuccess = () => {
          const db = request.result;
          db.onversionchange = () => { db.close(); dbPromise = null; };
          resolve(db);
        };
        request.onerror = () => { dbPromise = null; reject(request.error); };
      });
    }
    return dbPromise;
  }
  return async function idb(mode, fn) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(storeName, mode);
      const request = fn(tx.objectStore(storeName));
      tx.oncomplete = () => resolve(request ? request.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  };
}
