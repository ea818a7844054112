#!/usr/bin/env node
import { runMountHelper } from '../dist/lib/cli/mount-helper.js';
process.exitCode = await runMountHelper(process.argv.slice(2));
