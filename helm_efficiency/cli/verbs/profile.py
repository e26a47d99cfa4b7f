"""`helm-efficiency profile`: argument parsing and the call into the library."""

from argparse import Namespace

from helm_efficiency.cli.options import AddVerb, _csv_ints, add_model_source


def run(args: Namespace) -> None:
    from helm_efficiency.profiling.profile_cmd import profile

    dtype = args.dtype or ("bf16" if str(args.device).startswith("cuda") else "fp32")  # this verb's default, by device
    df = profile(args.config, args.arch, device=args.device, dtype=dtype, prompts=args.prompts, outputs=args.outputs,
                 batch_sizes=args.batch_sizes, repeats=args.repeats, warmup=args.warmup, max_seconds=args.max_seconds,
                 hardware=args.hardware, model_name=args.name, stack=args.stack, measure_energy=args.energy)
    df.to_csv(args.output, index=False)
    worst = (df["runtime_std_s"] / df["runtime_s"]).max() if len(df) else float("nan")
    print(f"wrote {len(df)} points to {args.output}; worst repeat std/mean = {worst:.1%}"
          + (f"; {len(df.attrs['warnings'])} warning(s) above: the machine was not quiet" if df.attrs.get("warnings") else ""))


def register(add: AddVerb) -> None:
    p = add("profile", run, "Profile a random-weight model (from a config or registry name) and write a measurements CSV.",
            "helm-efficiency profile --arch test/tiny-llama --device cpu -o m.csv")
    add_model_source(p)
    p.add_argument("--device", default="cpu", help="torch device to profile on: cpu, cuda or cuda:N")
    p.add_argument("--dtype", default=None, help="fp32 (CPU default), fp16 or bf16 (CUDA default)")
    p.add_argument("--prompts", type=_csv_ints, default=[1, 64, 128, 256, 512, 1024], help="prompt lengths (tokens), comma-separated (default: 1,64,128,256,512,1024)")
    p.add_argument("--outputs", type=_csv_ints, default=[1, 8, 32], help="output lengths (tokens), comma-separated (default: 1,8,32)")
    p.add_argument("--batch-sizes", type=_csv_ints, default=[1], help="batch sizes, comma-separated (default: 1; idealized runtime is batch 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per point (the fastest half is averaged)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs before each point's timed ones")
    p.add_argument("--max-seconds", type=float, default=None, help="time budget; most informative points go first")
    p.add_argument("--hardware", help="hardware label for the table (default: detected device name)")
    p.add_argument("--name", help="model name in the table (default: --arch, else the config's name, else its folder for a config.json)")
    p.add_argument("--stack", choices=["eager", "optimized"], default="eager",
                   help="eager: dynamic KV cache, eager PyTorch; optimized: static KV cache and compiled decode (CUDA graphs on GPU)")
    p.add_argument("--energy", action="store_true", help="CUDA: add energy_j per request from NVML's energy counter (pip install nvidia-ml-py)")
    p.add_argument("-o", "--output", required=True, help="measurements CSV to write (architecture and software-stack columns included)")
