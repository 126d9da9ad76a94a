#!/usr/bin/env node
// The published entry point; the TypeScript build lives in dist/.
import '../dist/src/app/kiln.js';
