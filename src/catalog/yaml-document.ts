import {LineCounter, parseDocument, type Node as YamlNode} from 'yaml'
import type {z} from 'zod'

/** One thing wrong in a YAML file: where in the document, on which line, and what. */
export interface SourceProblem {
  path: string
  line?: number
  message: string
}

/** A parsed YAML file that can say on which line a path of its document starts. */
export interface YamlSource {
  value: unknown
  lineOf(segments: readonly PropertyKey[]): number | undefined
}

/** Parses YAML (merge keys on) keeping positions; syntax errors come back as problems with their lines. */
export function readYaml(text: string, options: {uniqueKeys?: boolean} = {}): YamlSource | {problems: SourceProblem[]} {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {lineCounter, prettyErrors: false, merge: true, uniqueKeys: options.uniqueKeys})
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => ({
        path: '',
        line: lineCounter.linePos(e.pos[0]).line,
        message: e.message.split('\n')[0],
      })),
    }
  }
  const lineOf = (segments: readonly PropertyKey[]): number | undefined => {
    for (let n = segments.length; n >= 0; n--) {
      const node = doc.getIn(segments.slice(0, n), true) as YamlNode | undefined
      if (node && typeof node === 'object' && 'range' in node && node.range)
        return lineCounter.linePos(node.range[0]).line
    }
    return undefined
  }
  return {value: doc.toJS(), lineOf}
}

/** A schema's issues as problems; an unknown key is reported at the key itself. */
export function schemaProblems(issues: readonly z.core.$ZodIssue[], lineOf: YamlSource['lineOf']): SourceProblem[] {
  return issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : []
    const where = keys.length > 0 ? [...issue.path, keys[0]] : issue.path
    return {path: formatPath(where), line: lineOf(where), message: issue.message}
  })
}

export function formatPath(segments: readonly PropertyKey[]): string {
  return segments.reduce<string>(
    (out, s) => (typeof s === 'number' ? `${out}[${s}]` : out ? `${out}.${String(s)}` : String(s)),
    '',
  )
}
