#!/usr/bin/env node
// The server runs in this very process (no launcher child), so signals and exit codes reach it as they would reach etcd.
import '../dist/src/cli/main.js';
