import { Error as VmErr, State, Status } from "@vmre/proto/vm/vm_pb"
import { Error as RpcDbErr } from "@vmre/proto/rpcdb/rpcdb_pb"
import { Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { Ids, ProtocolVersion, Timestamp, VmEnums, WireErrors } from "../src/index.ts"

describe("Ids", () => {
  it("prints and parses CB58 as the Go nodes do", () => {
    expect(Ids.toString(Ids.emptyId)).toBe("11111111111111111111111111111111LpoYY")
    const id = Ids.sha256(new TextEncoder().encode("block"))
    const text = Ids.toString(id)
    expect(Ids.fromString(text)).toEqual(id)
    expect(Ids.idFromString(text)).toEqual(id)
    // A wrong checksum, a character outside base58, and text too short for a checksum.
    expect(Ids.fromString(text.slice(0, -1) + (text.endsWith("1") ? "2" : "1"))).toBeUndefined()
    expect(Ids.fromString("0OIl")).toBeUndefined()
    expect(Ids.fromString("1")).toBeUndefined()
  })

  it("gives a 32-byte id only for 32 bytes", () => {
    const nodeIdText = Ids.toString(new Uint8Array(20).fill(7))
    expect(Ids.fromString(nodeIdText)).toHaveLength(20)
    expect(Ids.idFromString(nodeIdText)).toBeUndefined()
    expect(() => Ids.Id.make(new Uint8Array(31))).toThrow()
    expect(Ids.Id.makeOption(new Uint8Array(31))._tag).toBe("None")
    expect(Schema.is(Ids.NodeId)(new Uint8Array(20))).toBe(true)
  })

  it("converts hex both ways and compares bytes", () => {
    const id = Ids.idFromHex("0x" + "ab".repeat(32))
    expect(Ids.toHex(id)).toBe("ab".repeat(32))
    expect(Ids.fromHex("abc")).toBeUndefined()
    expect(Ids.fromHex("zz")).toBeUndefined()
    expect(() => Ids.idFromHex("ab")).toThrow()
    expect(Ids.equals(id, Ids.idFromHex("ab".repeat(32)))).toBe(true)
    expect(Ids.equals(id, Ids.emptyId)).toBe(false)
  })
})

describe("Timestamp", () => {
  it("accepts years 1 to 9999 and refuses the rest", () => {
    expect(Result.isSuccess(Timestamp.fromMillis(Date.UTC(9999, 11, 31, 23, 59, 59, 999)))).toBe(true)
    expect(Result.isSuccess(Timestamp.fromMillis(-62_135_596_800_000))).toBe(true)
    expect(Result.isFailure(Timestamp.fromMillis(-62_135_596_800_001))).toBe(true)
    expect(Result.isFailure(Timestamp.fromMillis(253_402_300_800_000))).toBe(true)
    expect(Result.isFailure(Timestamp.fromMillis(Number.NaN))).toBe(true)
    expect(Timestamp.toMillis({ seconds: 1n, nanos: 500_000_000 } as never)).toEqual(Result.succeed(1_500))
    expect(Result.isFailure(Timestamp.toMillis({ seconds: 1n, nanos: 1_000_000_000 } as never))).toBe(true)
    expect(Result.isFailure(Timestamp.toMillis({ seconds: 253_402_300_800n, nanos: 0 } as never))).toBe(true)
  })
})

describe("WireErrors", () => {
  it("maps vm.proto's err enum both ways through the same classes", () => {
    const cases = [
      [new WireErrors.NotFound({ subject: "block x" }), VmErr.NOT_FOUND],
      [new WireErrors.Closed({}), VmErr.CLOSED],
      [new WireErrors.StateSyncNotImplemented({}), VmErr.STATE_SYNC_NOT_IMPLEMENTED]
    ] as const
    for (const [error, err] of cases) {
      expect(WireErrors.toVmErr(error)).toBe(err)
      const back = WireErrors.fromVmErr(err, "GetBlock", "block x")
      expect(Result.isFailure(back) && back.failure).toHaveProperty("_tag", error._tag)
    }
    expect(WireErrors.toVmErr(new Error("boom"))).toBeUndefined()
    // Another class with the same tag is not the wire's NotFound.
    expect(WireErrors.toVmErr({ _tag: "NotFound", subject: "x" })).toBeUndefined()
    expect(WireErrors.fromVmErr(VmErr.UNSPECIFIED, "GetBlock")).toEqual(Result.succeed(undefined))
    expect(WireErrors.fromVmErr(9 as VmErr, "GetBlock")).toEqual(Result.fail(9))
  })

  it("says where a failure came from when the host knows the method", () => {
    expect(new WireErrors.NotFound({ subject: "block x" }).message).toBe("not found: block x")
    expect(new WireErrors.NotFound({ subject: "block x", method: "GetBlock" }).message).toBe(
      "vm.VM/GetBlock: not found: block x"
    )
    expect(new WireErrors.Closed({ method: "Version" }).message).toBe("vm.VM/Version: the vm is closed")
  })

  it("maps rpcdb's err enum both ways", () => {
    expect(WireErrors.fromRpcDbErr(WireErrors.toRpcDbErr("closed"))).toBe("closed")
    expect(WireErrors.fromRpcDbErr(WireErrors.toRpcDbErr("not-found"))).toBe("not-found")
    expect(WireErrors.fromRpcDbErr(RpcDbErr.UNSPECIFIED)).toBeUndefined()
    expect(WireErrors.fromRpcDbErr(7 as RpcDbErr)).toBe(7)
  })

  it("never gives an empty message", () => {
    expect(WireErrors.messageOf({})).toBe("the vm failed without an error message")
    expect(WireErrors.messageOf(new Error("boom"))).toBe("boom")
    expect(WireErrors.messageOf({ _tag: "Oops" })).toBe("Oops")
    expect(WireErrors.messageOf("text")).toBe("text")
  })
})

describe("VmEnums", () => {
  it("maps every name to its proto number and back", () => {
    const roundTrip = <Name extends string>(table: {
      readonly names: ReadonlyArray<Name>
      readonly toProto: (name: Name) => number
      readonly fromProto: (value: number) => Result.Result<Name, VmEnums.UnknownValue>
    }) => table.names.map((name) => Result.getOrThrow(table.fromProto(table.toProto(name))))
    expect(roundTrip(VmEnums.vmState)).toEqual(["StateSyncing", "Bootstrapping", "NormalOp"])
    expect(roundTrip(VmEnums.vmEvent)).toEqual(["BuildBlock", "StateSyncFinished"])
    expect(roundTrip(VmEnums.stateSyncMode)).toEqual(["Skipped", "Static", "Dynamic"])
    expect(roundTrip(VmEnums.blockStatus)).toEqual(["Unspecified", "Processing", "Rejected", "Accepted"])
    expect(VmEnums.vmState.toProto("NormalOp")).toBe(State.NORMAL_OP)
    expect(Result.getOrThrow(VmEnums.blockStatus.fromProto(Status.ACCEPTED))).toBe("Accepted")
  })

  it("reports a number it has no name for, and UNSPECIFIED where a peer may not send it", () => {
    expect(VmEnums.vmState.fromProto(State.UNSPECIFIED)).toEqual(Result.fail({ enumName: "vm.State", value: 0 }))
    expect(Result.isFailure(VmEnums.vmEvent.fromProto(99))).toBe(true)
    expect(Result.isFailure(VmEnums.stateSyncMode.fromProto(0))).toBe(true)
  })
})

describe("ProtocolVersion sets", () => {
  it("parses numbers, ranges and known releases, sorted without repeats", () => {
    expect(ProtocolVersion.parseSet("45")).toEqual([45])
    expect(ProtocolVersion.parseSet("44,45")).toEqual([44, 45])
    expect(ProtocolVersion.parseSet("42-45")).toEqual([42, 43, 44, 45])
    expect(ProtocolVersion.parseSet(" 45 , 35, 44-45 ")).toEqual([35, 44, 45])
    expect(ProtocolVersion.parseSet("v1.14.2,avalanchego/1.14.0,luxd")).toEqual([43, 44, 45])
    expect(ProtocolVersion.parseSet("4294967295")).toEqual([4294967295])
  })
  it("refuses what is not a set", () => {
    for (const text of ["", ",", "45,", "45-42", "x", "-1", "4294967296", "0-5000", "v1.12.0", "45.5"]) {
      expect(ProtocolVersion.parseSet(text), text).toBeUndefined()
    }
  })
  it("formats runs of three or more as ranges", () => {
    expect(ProtocolVersion.formatSet([45])).toBe("45")
    expect(ProtocolVersion.formatSet([45, 44])).toBe("44,45")
    expect(ProtocolVersion.formatSet([35, 42, 43, 44, 45, 45])).toBe("35,42-45")
  })
  it("maps the releases whose number is known, and no others", () => {
    expect(ProtocolVersion.forRelease("v1.14.2")).toBe(45)
    expect(ProtocolVersion.forRelease("1.14.1")).toBe(44)
    expect(ProtocolVersion.forRelease("avalanchego/1.15.0")).toBe(46)
    expect(ProtocolVersion.forRelease("v1.11.9")).toBe(35)
    expect(ProtocolVersion.forRelease("v1.13.3")).toBeUndefined()
    expect(ProtocolVersion.forRelease("luxd")).toBe(43)
  })
})
