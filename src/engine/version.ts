/** kvsteer's version, recorded in the files it writes (kept equal to package.json by a test). */
export const KVSTEER_VERSION = '0.1.0';
