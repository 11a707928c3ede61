/** The filter language of `wirelog query`, the explorer and `trace --filter` (docs/query.md). */
export { QueryError, formatQueryError } from './error.js';
export { lex, type Token, type TokenType, type CompareOp } from './lexer.js';
export { parseQuery, normaliseTime, type ParseOptions } from './parser.js';
export { parseFilter, isLegacyFilter, legacyToQuery } from './legacy.js';
export { compilePredicate, fieldValue, hostEquals, type RecordPredicate } from './eval.js';
export { compileSql, registerQueryFunctions, type SqlWhere, type SqlOptions, type FunctionHost } from './sql.js';
export { recordFields, fieldTypeOf, type FieldType, type RecordKind } from './fields.js';
export { parseIp, parseCidr, cidrContains, type Cidr, type IpNum } from './ip.js';
export type { QueryAst, Leaf } from './ast.js';
