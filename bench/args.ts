/** Command-line flags of the bench scripts: `--name value` pairs after the script's path. */
export function flagReader(args: readonly string[] = process.argv.slice(2)): (name: string) => string | undefined {
  return (name) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args[i + 1];
  };
}
