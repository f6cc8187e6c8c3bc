global using Hyperlxd.Core;
