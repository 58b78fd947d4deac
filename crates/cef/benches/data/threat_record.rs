// The ~1 KB record the parser benches measure (in a folder of its own, so that cargo does not
// take it for a bench target): included by benches/cef.rs and
// examples/parse_loop.rs, so that both measure the same text.

/// A PAN-OS-style THREAT record in CEF, written for the benches from the 10.x template.
const THREAT: &str = "CEF:0|Palo Alto Networks|PAN-OS|10.1.8|url|THREAT|1|rt=Nov 22 2026 10:00:00 GMT \
deviceExternalId=012801096514 src=192.168.15.207 dst=175.16.199.1 sourceTranslatedAddress=192.168.1.63 \
destinationTranslatedAddress=175.16.199.1 cs1Label=Rule cs1=LAN to Internet - WEB suser=corp\\jdoe duser= \
app=web-browsing cs3Label=Virtual System cs3=vsys1 cs4Label=Source Zone cs4=trust cs5Label=Destination Zone \
cs5=untrust deviceInboundInterface=ethernet1/2 deviceOutboundInterface=ethernet1/1 cs6Label=LogProfile \
cs6=Sensor Log Forwarding cn1Label=SessionID cn1=123456 cnt=1 spt=53211 dpt=80 sourceTranslatedPort=22144 \
destinationTranslatedPort=80 flexString1Label=Flags flexString1=0x400000 proto=tcp act=alert \
request=\"example.com/index.php?id=1&q=a=b\" cs2Label=URL Category cs2=computer-and-internet-info \
flexString2Label=Direction flexString2=client-to-server externalId=7028475631 cat=url \
PanOSDGl1=0 PanOSDGl2=0 PanOSVsysName= dvchost=PA-VM PanOSSrcUUID= PanOSDstUUID= \
PanOSTunnelType=N/A PanOSRuleUUID=3b1e0c62-8d5f-4a6e-9f0e-6c2d5f1a9b77 PanOSHTTP2Con=0";
