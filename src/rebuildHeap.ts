/**
 * The young generation of a rebuild's Node (`opsfold replay` and the bench): 8 MB semi-spaces
 * instead of V8's 16 MB (three of them), some 20-40 MB less RSS for no measurable time. A module
 * of its own: the launcher that starts the rebuild's capped Node reads it without loading the rebuild.
 */
export const REBUILD_SEMI_SPACE_MB = 8;

/** `opsfold replay --heap-mb`'s default: V8's old-space limit for the rebuild. */
export const REBUILD_HEAP_MB = 256;
