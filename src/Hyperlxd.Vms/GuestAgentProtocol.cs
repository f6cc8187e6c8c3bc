using System.Text.Json.Serialization;

namespace Hyperlxd.Vms;

// The qemu-guest-agent commands the driver uses (qemu's qga/qapi-schema.json), by their wire names.

internal sealed record GuestExecRequest(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("arg")] IReadOnlyList<string> Arg,
    [property: JsonPropertyName("env")] IReadOnlyList<string> Env,
    [property: JsonPropertyName("input-data"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? InputData,
    [property: JsonPropertyName("capture-output")] bool CaptureOutput);

internal sealed record GuestExecStarted([property: JsonPropertyName("pid")] long Pid);

internal sealed record GuestPidRequest([property: JsonPropertyName("pid")] long Pid);

internal sealed record GuestExecStatus(
    [property: JsonPropertyName("exited")] bool Exited,
    [property: JsonPropertyName("exitcode")] int? ExitCode,
    [property: JsonPropertyName("signal")] int? Signal,
    [property: JsonPropertyName("out-data")] string? OutData,
    [property: JsonPropertyName("err-data")] string? ErrData,
    [property: JsonPropertyName("out-truncated")] bool? OutTruncated,
    [property: JsonPropertyName("err-truncated")] bool? ErrTruncated);

internal sealed record GuestFileOpenRequest([property: JsonPropertyName("path")] string Path, [property: JsonPropertyName("mode")] string Mode);

internal sealed record GuestHandleRequest([property: JsonPropertyName("handle")] long Handle);

internal sealed record GuestFileReadRequest([property: JsonPropertyName("handle")] long Handle, [property: JsonPropertyName("count")] int Count);

internal sealed record GuestFileRead(
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("buf-b64")] string? Buffer,
    [property: JsonPropertyName("eof")] bool Eof);

internal sealed record GuestFileWriteRequest([property: JsonPropertyName("handle")] long Handle, [property: JsonPropertyName("buf-b64")] string Buffer);

internal sealed record GuestFileWrite([property: JsonPropertyName("count")] int Count, [property: JsonPropertyName("eof")] bool Eof);

internal sealed record GuestIpAddress(
    [property: JsonPropertyName("ip-address-type")] string Type,
    [property: JsonPropertyName("ip-address")] string Address,
    [property: JsonPropertyName("prefix")] int Prefix);

internal sealed record GuestInterfaceStats(
    [property: JsonPropertyName("rx-bytes")] long RxBytes,
    [property: JsonPropertyName("rx-packets")] long RxPackets,
    [property: JsonPropertyName("tx-bytes")] long TxBytes,
    [property: JsonPropertyName("tx-packets")] long TxPackets);

internal sealed record GuestInterface(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("hardware-address")] string? HardwareAddress,
    [property: JsonPropertyName("ip-addresses")] IReadOnlyList<GuestIpAddress>? Addresses,
    [property: JsonPropertyName("statistics")] GuestInterfaceStats? Statistics);

internal sealed record GuestEmpty;

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(GuestExecRequest))]
[JsonSerializable(typeof(GuestExecStarted))]
[JsonSerializable(typeof(GuestPidRequest))]
[JsonSerializable(typeof(GuestExecStatus))]
[JsonSerializable(typeof(GuestFileOpenRequest))]
[JsonSerializable(typeof(GuestHandleRequest))]
[JsonSerializable(typeof(GuestFileReadRequest))]
[JsonSerializable(typeof(GuestFileRead))]
[JsonSerializable(typeof(GuestFileWriteRequest))]
[JsonSerializable(typeof(GuestFileWrite))]
[JsonSerializable(typeof(List<GuestInterface>))]
[JsonSerializable(typeof(GuestEmpty))]
[JsonSerializable(typeof(long))]
internal sealed partial class GuestAgentJson : JsonSerializerContext;
