// What is mounted where, for the FUSE front-end (lib/mountinfo.ts parses it).
export { type MountInfo, mountAt, parseMountinfo } from '../mountinfo.js';

export const FSTYPE = 'fuse.stableid';
