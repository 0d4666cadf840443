/**
 * The STAC API searched by default, apart from the STAC client so that the CLI's help can name it without loading
 * the client (start-up time, see src/cli/main.ts).
 */
export const DEFAULT_STAC_API = 'https://earth-search.aws.element84.com/v1';
