/**
 * node:http without the cost of importing it. An ESM `import` of a built-in
 * module builds a namespace of all its exports, reading each one; for
 * node:http that includes the lazy `WebSocket` getter, which loads undici:
 * about 6.5 MB of private memory for a client the proxy never uses
 * (nodejs/node#59686). `process.getBuiltinModule()` returns the module object
 * as CommonJS code sees it, its getters unread.
 */
export const http = process.getBuiltinModule('node:http');
