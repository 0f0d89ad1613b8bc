#!/usr/bin/env node
// Cuts a record file at the offset a corruption error names (see docs/operations.md).
import '../dist/src/cli/repair.js';
