'use strict';
// The compiled addon; build it with `npm run build:native` (or `npm run setup`).
module.exports = require('./build/Release/bpf_loader.node');
