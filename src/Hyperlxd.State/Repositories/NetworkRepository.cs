using Hyperlxd.Core;
using Npgsql;

namespace Hyperlxd.State.Repositories;

public sealed record NetworkRecord(string Name, string Type, string Description, Dictionary<string, string> Config);

public sealed record ProxyNatRecord(string Instance, string Device, string Protocol, string ListenAddress, int ListenPort, string TargetAddress, int TargetPort);

/// <summary>Managed networks and proxy DNAT rules. Host-side work is the networking layer's; this only records it.</summary>
public sealed class NetworkRepository(Database db)
{
    private const string Columns = "name, type, description, config::text";
    private const string NatColumns = "instance, device, protocol, listen_address, listen_port, target_address, target_port";

    public Task<List<NetworkRecord>> ListAsync(CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"SELECT {Columns} FROM networks ORDER BY name", null);
            return await ReadAll(cmd, Read, token);
        }, ct);

    public Task<NetworkRecord?> FindAsync(string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"SELECT {Columns} FROM networks WHERE name = $1", null, name);
            return (await ReadAll(cmd, Read, token)).FirstOrDefault();
        }, ct);

    public Task CreateAsync(NetworkRecord n, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("INSERT INTO networks (name, type, description, config) VALUES ($1, $2, $3, $4)", null, n.Name, n.Type, n.Description);
            cmd.Parameters.Add(Json.Param(n.Config));
            try
            {
                return await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Network \"{n.Name}\" already exists");
            }
        }, ct);

    public Task UpdateAsync(string name, string description, Dictionary<string, string> config, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE networks SET description = $2, config = $3 WHERE name = $1", null, name, description);
            cmd.Parameters.Add(Json.Param(config));
            return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Network not found");
        }, ct);

    public Task RenameAsync(string name, string newName, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE networks SET name = $2 WHERE name = $1", null, name, newName);
            try
            {
                return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Network not found");
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Network \"{newName}\" already exists");
            }
        }, ct);

    public Task DeleteAsync(string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("DELETE FROM networks WHERE name = $1", null, name);
            return await cmd.ExecuteNonQueryAsync(token);
        }, ct);

    public Task<List<ProxyNatRecord>> ListProxyNatAsync(CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"SELECT {NatColumns} FROM network_proxy_nat ORDER BY instance, device", null);
            return await ReadAll(cmd, ReadNat, token);
        }, ct);

    /// <summary>Adds or replaces one device's rule; a listen address/port another device holds is a 409 naming it.</summary>
    public Task AddProxyNatAsync(ProxyNatRecord r, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            await using (var del = conn.Command("DELETE FROM network_proxy_nat WHERE instance = $1 AND device = $2", tx, r.Instance, r.Device))
            {
                await del.ExecuteNonQueryAsync(token);
            }
            await using var cmd = conn.Command($"INSERT INTO network_proxy_nat ({NatColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7)", tx,
                r.Instance, r.Device, r.Protocol, r.ListenAddress, r.ListenPort, r.TargetAddress, r.TargetPort);
            try
            {
                await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Listen address {r.Protocol}:{r.ListenAddress}:{r.ListenPort} is already used by another proxy device");
            }
        }, ct);

    /// <summary>True when a rule was removed.</summary>
    public Task<bool> RemoveProxyNatAsync(string instance, string device, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("DELETE FROM network_proxy_nat WHERE instance = $1 AND device = $2", null, instance, device);
            return await cmd.ExecuteNonQueryAsync(token) > 0;
        }, ct);

    private static async Task<List<T>> ReadAll<T>(NpgsqlCommand cmd, Func<NpgsqlDataReader, T> read, CancellationToken ct)
    {
        var list = new List<T>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(read(r));
        }
        return list;
    }

    private static NetworkRecord Read(NpgsqlDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), Json.Map(r.GetString(3)));

    private static ProxyNatRecord ReadNat(NpgsqlDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetString(5), r.GetInt32(6));
}
