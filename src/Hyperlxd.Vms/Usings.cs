global using Hyperlxd.Core;
global using Hyperlxd.Interop.Linux;
